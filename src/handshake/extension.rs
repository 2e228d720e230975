//! `Sec-WebSocket-Extensions` values (RFC 6455 section 9.1): a list of
//! extensions, each a name with `;`-separated parameters whose values are
//! tokens or quoted strings.

use crate::prelude::*;

use super::headers::{is_tchar, is_token};
use core::fmt;

/// One extension offered by a client or accepted by a server, such as
/// `permessage-deflate; client_max_window_bits`.
///
/// ```
/// let offers = wsproto::handshake::Extension::parse_list(
///     "permessage-deflate; client_max_window_bits, x-foo; level=\"3\"",
/// )
/// .unwrap();
/// assert_eq!(offers[0].name(), "permessage-deflate");
/// assert_eq!(offers[0].param("client_max_window_bits"), Some(None));
/// assert_eq!(offers[1].param("level"), Some(Some("3")));
/// assert_eq!(offers[1].to_string(), "x-foo; level=3");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extension {
    name: String,
    params: Vec<(String, Option<String>)>,
}

/// A `Sec-WebSocket-Extensions` value did not follow the grammar of
/// RFC 6455 section 9.1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidExtension;

impl fmt::Display for InvalidExtension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid Sec-WebSocket-Extensions value")
    }
}

impl core::error::Error for InvalidExtension {}

impl Extension {
    /// An extension with no parameters; `None` if `name` is not a token.
    pub fn new(name: &str) -> Option<Self> {
        is_token(name.as_bytes()).then(|| Extension {
            name: name.to_owned(),
            params: Vec::new(),
        })
    }

    /// Adds a parameter; `None` if the name, or the value, is not a token.
    pub fn with_param(mut self, name: &str, value: Option<&str>) -> Option<Self> {
        if !is_token(name.as_bytes()) || value.is_some_and(|v| !is_token(v.as_bytes())) {
            return None;
        }
        self.params
            .push((name.to_owned(), value.map(str::to_owned)));
        Some(self)
    }

    /// The extension's name, as sent.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The parameters in order, as `(name, value)`; quoted values are given
    /// unquoted.
    pub fn params(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        self.params
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_deref()))
    }

    /// The first parameter called `name` (any case): `None` when absent,
    /// `Some(None)` when present without a value.
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        self.params()
            .find(|(param, _)| param.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    }

    /// Parses one header value: a comma-separated list of extensions.
    pub fn parse_list(value: &str) -> Result<Vec<Extension>, InvalidExtension> {
        let mut list = Vec::new();
        parse_into(value.as_bytes(), &mut list)?;
        Ok(list)
    }
}

impl fmt::Display for Extension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        for (name, value) in self.params() {
            write!(f, "; {name}")?;
            if let Some(value) = value {
                write!(f, "={value}")?;
            }
        }
        Ok(())
    }
}

/// Why an answer's extensions do not fit the offer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum BadChoice<'a> {
    /// This extension was not offered.
    NotOffered(&'a str),
    /// This extension is accepted twice.
    Repeated(&'a str),
}

/// Checks that every accepted extension was offered (by name, any case) and
/// appears once: one rule for a server's answer and a client's check of it.
pub(crate) fn check_choices<'a>(
    chosen: &'a [Extension],
    offered: &[Extension],
) -> Result<(), BadChoice<'a>> {
    for (i, extension) in chosen.iter().enumerate() {
        let same_name = |other: &Extension| other.name.eq_ignore_ascii_case(&extension.name);
        if !offered.iter().any(same_name) {
            return Err(BadChoice::NotOffered(&extension.name));
        }
        if chosen[..i].iter().any(same_name) {
            return Err(BadChoice::Repeated(&extension.name));
        }
    }
    Ok(())
}

/// A `Sec-WebSocket-Extensions` value listing `extensions`.
pub(crate) fn list_value(extensions: &[Extension]) -> String {
    let list: Vec<String> = extensions.iter().map(ToString::to_string).collect();
    list.join(", ")
}

/// Appends the extensions of one header value to `out`.
pub(crate) fn parse_into(value: &[u8], out: &mut Vec<Extension>) -> Result<(), InvalidExtension> {
    let mut cursor = Cursor {
        bytes: value,
        at: 0,
    };
    loop {
        cursor.skip_ows();
        if cursor.eat(b',') {
            continue; // empty list element
        }
        if cursor.done() {
            return Ok(());
        }
        let name = cursor.token()?;
        let mut extension = Extension {
            name: name.to_owned(),
            params: Vec::new(),
        };
        loop {
            cursor.skip_ows();
            if cursor.done() || cursor.eat(b',') {
                break;
            }
            if !cursor.eat(b';') {
                return Err(InvalidExtension);
            }
            cursor.skip_ows();
            let param = cursor.token()?.to_owned();
            cursor.skip_ows();
            let value = if cursor.eat(b'=') {
                cursor.skip_ows();
                Some(cursor.token_or_quoted()?)
            } else {
                None
            };
            extension.params.push((param, value));
        }
        out.push(extension);
    }
}

struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn done(&self) -> bool {
        self.at >= self.bytes.len()
    }

    fn skip_ows(&mut self) {
        while matches!(self.bytes.get(self.at), Some(b' ' | b'\t')) {
            self.at += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> bool {
        let hit = self.bytes.get(self.at) == Some(&byte);
        self.at += usize::from(hit);
        hit
    }

    fn token(&mut self) -> Result<&'a str, InvalidExtension> {
        let start = self.at;
        while self.bytes.get(self.at).is_some_and(|&b| is_tchar(b)) {
            self.at += 1;
        }
        let token = &self.bytes[start..self.at];
        if token.is_empty() {
            return Err(InvalidExtension);
        }
        // Token characters are ASCII.
        core::str::from_utf8(token).map_err(|_| InvalidExtension)
    }

    /// A token, or a quoted string whose unescaped content is a token, as
    /// section 9.1 requires.
    fn token_or_quoted(&mut self) -> Result<String, InvalidExtension> {
        if !self.eat(b'"') {
            return self.token().map(str::to_owned);
        }
        let mut value = String::new();
        loop {
            let byte = *self.bytes.get(self.at).ok_or(InvalidExtension)?;
            self.at += 1;
            match byte {
                b'"' => break,
                b'\\' => {
                    let escaped = *self.bytes.get(self.at).ok_or(InvalidExtension)?;
                    self.at += 1;
                    value.push(char::from(escaped));
                }
                _ => value.push(char::from(byte)),
            }
        }
        if is_token(value.as_bytes()) {
            Ok(value)
        } else {
            Err(InvalidExtension)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(value: &str) -> Result<Vec<Extension>, InvalidExtension> {
        Extension::parse_list(value)
    }

    #[test]
    fn offers_with_parameters() {
        let list = parse("permessage-deflate; client_max_window_bits; server_max_window_bits=10, permessage-deflate").unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].param("server_max_window_bits"), Some(Some("10")));
        assert_eq!(list[0].param("CLIENT_MAX_WINDOW_BITS"), Some(None));
        assert_eq!(list[0].param("absent"), None);
        assert_eq!(list[1].params().count(), 0);
    }

    #[test]
    fn quoted_values_and_whitespace() {
        let list = parse(" a ;\tb = \"1\\0\" ,, c ").unwrap();
        assert_eq!(list[0].param("b"), Some(Some("10")));
        assert_eq!(list[1].name(), "c");
        assert!(parse("").unwrap().is_empty());
    }

    #[test]
    fn grammar_violations() {
        for bad in [
            "a;",
            "a; =1",
            "a b",
            "a; b=",
            "a; b=\"unterminated",
            "a; b=\"not a token\"",
            "a; b=c d",
            ";a",
            "a; b=\"\\",
        ] {
            assert_eq!(parse(bad), Err(InvalidExtension), "{bad:?}");
        }
    }

    #[test]
    fn display_round_trips() {
        let ext = Extension::new("x")
            .unwrap()
            .with_param("y", Some("1"))
            .unwrap();
        assert_eq!(parse(&ext.to_string()).unwrap(), [ext]);
        assert!(Extension::new("a b").is_none());
    }
}
