//! The errors of the application's own making: a request or response it
//! asked for that cannot be built ([`BuildError`]), and a URL that cannot be
//! used ([`UrlError`]).
//!
//! They live apart from the errors about what the peer sent (`error.rs`)
//! so that the dependency points one way: a [`Response`](super::Response)
//! builder returns a [`BuildError`], and a
//! [`RequestError`](super::RequestError) builds a `Response`. Kept in one
//! file with the peer's errors, `response.rs` and `error.rs` imported each
//! other.

use crate::prelude::*;

use crate::entropy::EntropyError;
use core::fmt;

/// The application asked for a request or response that cannot be sent.
/// Nothing was produced; fix the arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildError {
    /// The URL is not a `ws://` or `wss://` URL this crate can use.
    InvalidUrl(UrlError),
    /// A header name that is not a token.
    InvalidHeaderName(String),
    /// A header value with CR, LF, NUL or another control character (which
    /// could inject header lines); the field's name is given.
    InvalidHeaderValue(String),
    /// A header the handshake writes itself (such as `Sec-WebSocket-Accept`,
    /// `Upgrade` or `Content-Length`); use the dedicated builder method.
    ReservedHeader(String),
    /// A refusal status outside 200-599.
    InvalidStatus(u16),
    /// A subprotocol name that is not a token.
    InvalidProtocol(String),
    /// The server chose a subprotocol the client did not offer.
    ProtocolNotOffered(String),
    /// An extension that does not follow RFC 6455 section 9.1, or that a
    /// server accepts twice.
    InvalidExtension(String),
    /// The server accepted an extension the client did not offer.
    ExtensionNotOffered(String),
    /// The entropy source failed while making the `Sec-WebSocket-Key`.
    Entropy(EntropyError),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::InvalidUrl(error) => write!(f, "invalid WebSocket URL: {error}"),
            BuildError::InvalidHeaderName(name) => write!(f, "invalid header name {name:?}"),
            BuildError::InvalidHeaderValue(name) => write!(f, "invalid value for header {name}"),
            BuildError::ReservedHeader(name) => {
                write!(f, "header {name} is written by the handshake itself")
            }
            BuildError::InvalidStatus(status) => {
                write!(f, "status {status} cannot refuse an upgrade")
            }
            BuildError::InvalidProtocol(name) => write!(f, "invalid subprotocol name {name:?}"),
            BuildError::ProtocolNotOffered(name) => {
                write!(f, "subprotocol {name:?} was not offered")
            }
            BuildError::InvalidExtension(value) => write!(f, "invalid extension {value:?}"),
            BuildError::ExtensionNotOffered(name) => {
                write!(f, "extension {name:?} was not offered")
            }
            BuildError::Entropy(error) => error.fmt(f),
        }
    }
}

impl core::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            BuildError::InvalidUrl(error) => Some(error),
            BuildError::Entropy(error) => Some(error),
            _ => None,
        }
    }
}

impl From<EntropyError> for BuildError {
    fn from(error: EntropyError) -> Self {
        BuildError::Entropy(error)
    }
}

/// Why a URL was refused by [`ClientRequest::new`](super::ClientRequest::new).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UrlError {
    /// The scheme is not `ws` or `wss` (`http`/`https` are not accepted:
    /// say which one you mean).
    Scheme,
    /// No host, or a host with characters a URL host cannot have.
    InvalidHost,
    /// The port is not a number from 1 to 65535.
    InvalidPort,
    /// `user:password@` is not supported; send credentials in a header.
    UserInfo,
    /// RFC 6455 section 3 forbids fragments (`#...`) in WebSocket URLs.
    Fragment,
    /// The path or query has a space, control or non-ASCII character
    /// (percent-encode it).
    InvalidPath,
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UrlError::Scheme => "scheme must be ws:// or wss://",
            UrlError::InvalidHost => "missing or invalid host",
            UrlError::InvalidPort => "invalid port",
            UrlError::UserInfo => "user information is not supported",
            UrlError::Fragment => "fragments are not allowed",
            UrlError::InvalidPath => "path must be percent-encoded ASCII",
        })
    }
}

impl core::error::Error for UrlError {}
