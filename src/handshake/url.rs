//! The `ws://` and `wss://` URLs of RFC 6455 section 3, parsed into what the
//! handshake needs: where to connect, the `Host` header and the resource.

use crate::prelude::*;

use super::build_error::UrlError;

/// A parsed WebSocket URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct WsUrl {
    pub(crate) tls: bool,
    /// The host to connect to: a name or address, IPv6 without brackets.
    pub(crate) host: String,
    pub(crate) port: u16,
    /// The `Host` header: the host (IPv6 in brackets), and the port when it
    /// is not the scheme's default.
    pub(crate) host_header: String,
    /// Path and query, at least `/`.
    pub(crate) resource: String,
}

impl WsUrl {
    pub(crate) fn parse(url: &str) -> Result<WsUrl, UrlError> {
        let (scheme, rest) = url.split_once("://").ok_or(UrlError::Scheme)?;
        let tls = if scheme.eq_ignore_ascii_case("ws") {
            false
        } else if scheme.eq_ignore_ascii_case("wss") {
            true
        } else {
            return Err(UrlError::Scheme);
        };
        if rest.contains('#') {
            return Err(UrlError::Fragment);
        }
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, resource) = rest.split_at(authority_end);
        if authority.contains('@') {
            return Err(UrlError::UserInfo);
        }
        let (host, bracketed, port) = split_authority(authority)?;
        let default_port = if tls { 443 } else { 80 };
        let port = match port {
            None | Some("") => default_port,
            Some(digits) => parse_port(digits)?,
        };
        if !resource.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(UrlError::InvalidPath);
        }
        let resource = match resource {
            "" => "/".to_owned(),
            query if query.starts_with('?') => format!("/{query}"),
            path => path.to_owned(),
        };
        let mut host_header = if bracketed {
            format!("[{host}]")
        } else {
            host.to_owned()
        };
        if port != default_port {
            host_header = format!("{host_header}:{port}");
        }
        Ok(WsUrl {
            tls,
            host: host.to_owned(),
            port,
            host_header,
            resource,
        })
    }
}

/// Host, whether it was an IPv6 literal in brackets, and the port text.
fn split_authority(authority: &str) -> Result<(&str, bool, Option<&str>), UrlError> {
    if let Some(inner) = authority.strip_prefix('[') {
        let (host, after) = inner.split_once(']').ok_or(UrlError::InvalidHost)?;
        let valid = !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
        if !valid {
            return Err(UrlError::InvalidHost);
        }
        return match after {
            "" => Ok((host, true, None)),
            _ => match after.strip_prefix(':') {
                Some(port) => Ok((host, true, Some(port))),
                None => Err(UrlError::InvalidHost),
            },
        };
    }
    let (host, port) = match authority.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    let valid = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b));
    if valid {
        Ok((host, false, port))
    } else {
        Err(UrlError::InvalidHost)
    }
}

fn parse_port(digits: &str) -> Result<u16, UrlError> {
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(UrlError::InvalidPort);
    }
    match digits.parse::<u16>() {
        Ok(port) if port != 0 => Ok(port),
        _ => Err(UrlError::InvalidPort),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> WsUrl {
        WsUrl::parse(text).unwrap()
    }

    #[test]
    fn defaults_and_host_header() {
        let plain = url("ws://example.com");
        assert_eq!((plain.port, plain.resource.as_str()), (80, "/"));
        assert_eq!(plain.host_header, "example.com");
        let tls = url("WSS://example.com:443/chat?room=1");
        assert!(tls.tls);
        assert_eq!((tls.port, tls.host_header.as_str()), (443, "example.com"));
        assert_eq!(tls.resource, "/chat?room=1");
        let other = url("ws://127.0.0.1:9001?x");
        assert_eq!(other.host_header, "127.0.0.1:9001");
        assert_eq!(other.resource, "/?x");
    }

    #[test]
    fn ipv6_literals() {
        let v6 = url("ws://[::1]:8080/");
        assert_eq!(v6.host, "::1");
        assert_eq!(v6.host_header, "[::1]:8080");
        assert_eq!(url("ws://[::1]").host_header, "[::1]");
    }

    #[test]
    fn refusals() {
        for (text, error) in [
            ("http://a/", UrlError::Scheme),
            ("a/b", UrlError::Scheme),
            ("ws://a/#frag", UrlError::Fragment),
            ("ws://user:pw@a/", UrlError::UserInfo),
            ("ws:///path", UrlError::InvalidHost),
            ("ws://a b/", UrlError::InvalidHost),
            ("ws://[::1/", UrlError::InvalidHost),
            ("ws://[::1]x/", UrlError::InvalidHost),
            ("ws://a:0/", UrlError::InvalidPort),
            ("ws://a:65536/", UrlError::InvalidPort),
            ("ws://a:+80/", UrlError::InvalidPort),
            ("ws://a/with space", UrlError::InvalidPath),
            ("ws://a/caf\u{e9}", UrlError::InvalidPath),
        ] {
            assert_eq!(WsUrl::parse(text), Err(error), "{text}");
        }
    }
}
