//! Header fields as the handshake sees them: an ordered list whose names
//! compare case-insensitively, and the comma-separated token lists of
//! RFC 9110 section 5.6.1.

use crate::prelude::*;

use core::fmt;

/// An ordered list of HTTP header fields.
///
/// Names compare case-insensitively; values are bytes, because HTTP allows
/// non-ASCII (`obs-text`) in values. A name may repeat (two `Cookie` lines,
/// or `Sec-WebSocket-Protocol` split over lines), and order is kept.
///
/// ```
/// let mut headers = wsproto::handshake::Headers::new();
/// headers.append("Cookie", "a=1");
/// headers.append("cookie", "b=2");
/// assert_eq!(headers.get_str("COOKIE"), Some("a=1"));
/// assert_eq!(headers.get_all("Cookie").count(), 2);
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Headers {
    fields: Vec<(String, Vec<u8>)>,
}

impl Headers {
    /// An empty list.
    pub const fn new() -> Self {
        Headers { fields: Vec::new() }
    }

    /// Adds a field at the end. Nothing is validated here: a response or
    /// request built from these fields checks them before any byte is
    /// written (see [`BuildError`](crate::handshake::BuildError)).
    pub fn append(&mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) {
        self.fields.push((name.into(), value.into()));
    }

    /// The number of fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether there are no fields.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Every field in order, as `(name, value)`.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.fields
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_slice()))
    }

    /// The value of the first field called `name` (any case).
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|(field, _)| field.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_slice())
    }

    /// The value of the first field called `name`, if it is UTF-8.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name)
            .and_then(|value| core::str::from_utf8(value).ok())
    }

    /// The values of every field called `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.fields
            .iter()
            .filter(move |(field, _)| field.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_slice())
    }

    /// Whether any field called `name` has `token` in its comma-separated
    /// list, compared case-insensitively (`Connection: keep-alive, Upgrade`
    /// contains `upgrade`).
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.get_all(name)
            .flat_map(list_elements)
            .any(|element| element.eq_ignore_ascii_case(token.as_bytes()))
    }

    /// How many fields are called `name`.
    pub(crate) fn count(&self, name: &str) -> usize {
        self.get_all(name).count()
    }
}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(
                self.fields
                    .iter()
                    .map(|(name, value)| (name, String::from_utf8_lossy(value))),
            )
            .finish()
    }
}

impl<N: Into<String>, V: Into<Vec<u8>>> FromIterator<(N, V)> for Headers {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(iter: I) -> Self {
        Headers {
            fields: iter
                .into_iter()
                .map(|(name, value)| (name.into(), value.into()))
                .collect(),
        }
    }
}

/// The elements of a comma-separated list, trimmed of optional whitespace;
/// empty elements are skipped, as RFC 9110 section 5.6.1 asks of recipients.
pub(crate) fn list_elements(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim_ows)
        .filter(|element| !element.is_empty())
}

/// The value of a field that must appear exactly once, non-empty, as text.
pub(crate) fn single_str<'h>(headers: &'h Headers, name: &str) -> Option<&'h str> {
    if headers.count(name) != 1 {
        return None;
    }
    let value = core::str::from_utf8(trim_ows(headers.get(name)?)).ok()?;
    (!value.is_empty()).then_some(value)
}

/// Writes header fields, then the blank line that ends a head.
pub(crate) fn write_fields<'a>(
    out: &mut Vec<u8>,
    fields: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) {
    for (name, value) in fields {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// `value` without leading and trailing spaces and tabs.
pub(crate) fn trim_ows(value: &[u8]) -> &[u8] {
    let start = value
        .iter()
        .position(|b| !is_ows(*b))
        .unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| !is_ows(*b))
        .map_or(start, |i| i + 1);
    &value[start..end]
}

fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// A `tchar` of RFC 9110 section 5.6.2.
pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A non-empty `token`: what header names, subprotocols and extension
/// names must be.
pub(crate) fn is_token(bytes: &[u8]) -> bool {
    !bytes.is_empty() && bytes.iter().all(|&b| is_tchar(b))
}

/// A value we are willing to write: no CR, LF or NUL (which would let a
/// value inject lines), other controls except tab refused too.
pub(crate) fn is_field_value(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_elements_trim_and_skip_empty() {
        let elements: Vec<&[u8]> = list_elements(b" keep-alive ,, Upgrade\t,").collect();
        assert_eq!(elements, [&b"keep-alive"[..], b"Upgrade"]);
    }

    #[test]
    fn tokens_and_values() {
        assert!(is_token(b"chat.v1"));
        assert!(!is_token(b"chat v1"));
        assert!(!is_token(b""));
        assert!(is_field_value(b"a=b; Path=/\t\xff"));
        assert!(!is_field_value(b"a\r\nSet-Cookie: x"));
        assert!(!is_field_value(b"a\0"));
    }

    #[test]
    fn has_token_spans_fields_and_case() {
        let headers: Headers = [("Connection", "keep-alive"), ("CONNECTION", "UPGRADE")]
            .into_iter()
            .collect();
        assert!(headers.has_token("connection", "upgrade"));
        assert!(!headers.has_token("connection", "close"));
        assert_eq!(headers.count("Connection"), 2);
    }
}
