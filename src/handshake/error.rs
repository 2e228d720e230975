//! Handshake errors about what the peer sent, and the one table from a
//! refused request to its HTTP status. The application's own mistakes are
//! in `build_error.rs`.

use crate::prelude::*;

use super::headers::Headers;
use super::response::Response;
use core::fmt;

/// A server refused the client's upgrade request. Each variant knows the
/// HTTP status to answer with ([`status`](Self::status)) and builds the
/// complete response ([`response`](Self::response)); after writing it, close
/// the transport.
///
/// Errors are sticky: a [`ServerHandshake`](super::ServerHandshake) that
/// failed returns the same error for any later input.
///
/// ```
/// use wsproto::handshake::{RequestError, ServerHandshake};
///
/// let mut handshake = ServerHandshake::new(&wsproto::Config::default());
/// let error = handshake
///     .recv(b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
///         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n")
///     .unwrap_err();
/// assert_eq!(error, RequestError::UnsupportedVersion);
/// let response = error.response().to_bytes();
/// assert!(response.starts_with(b"HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\n"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestError {
    /// The head is not a well-formed HTTP/1.x request.
    Malformed,
    /// The head did not end within [`Config::max_handshake_len`](crate::Config::max_handshake_len) bytes.
    HeadTooLarge {
        /// The configured limit.
        max: usize,
    },
    /// The head has more than [`Config::max_headers`](crate::Config::max_headers) fields.
    TooManyHeaders {
        /// The configured limit.
        max: usize,
    },
    /// The method is not `GET` (or not `CONNECT` over HTTP/2).
    WrongMethod,
    /// The request is HTTP/1.0; WebSocket needs HTTP/1.1 or later.
    HttpVersion,
    /// `Host` (or `:authority`) is missing, empty or repeated.
    InvalidHost,
    /// `Upgrade` does not name `websocket` (or `:protocol` is not
    /// `websocket` over HTTP/2).
    NotWebSocket,
    /// `Connection` does not list `Upgrade`.
    MissingConnectionUpgrade,
    /// `Sec-WebSocket-Key` is missing, repeated, or not the base64 of
    /// exactly 16 bytes.
    InvalidKey,
    /// `Sec-WebSocket-Version` is missing or not `13`. Answered with 426 and
    /// `Sec-WebSocket-Version: 13`, which tells the client what to speak.
    UnsupportedVersion,
    /// `Sec-WebSocket-Protocol` is not a list of tokens.
    InvalidProtocols,
    /// `Sec-WebSocket-Extensions` does not follow RFC 6455 section 9.1.
    InvalidExtensions,
    /// Input arrived after the handshake had already returned its request:
    /// a driver bug (those bytes belong to the connection). Answered with
    /// 500.
    AlreadyComplete,
    /// The request head did not arrive within
    /// [`Config::handshake_timeout`](crate::Config::handshake_timeout),
    /// counted from the first
    /// [`ServerHandshake::handle_timeout`](super::ServerHandshake::handle_timeout)
    /// call. Answered with 408 (Request Timeout).
    Timeout,
}

impl RequestError {
    /// The HTTP status that answers this error: the one table of
    /// `docs/handshake.md`.
    pub const fn status(&self) -> u16 {
        match self {
            RequestError::HeadTooLarge { .. } | RequestError::TooManyHeaders { .. } => 431,
            RequestError::UnsupportedVersion => 426,
            RequestError::AlreadyComplete => 500,
            RequestError::Timeout => 408,
            RequestError::Malformed
            | RequestError::WrongMethod
            | RequestError::HttpVersion
            | RequestError::InvalidHost
            | RequestError::NotWebSocket
            | RequestError::MissingConnectionUpgrade
            | RequestError::InvalidKey
            | RequestError::InvalidProtocols
            | RequestError::InvalidExtensions => 400,
        }
    }

    /// The complete response to write before closing the transport: the
    /// status, `Sec-WebSocket-Version: 13` for a 426, and this error's
    /// description as a plain-text body.
    pub fn response(&self) -> Response {
        let mut headers = Headers::new();
        if *self == RequestError::UnsupportedVersion {
            headers.append("Sec-WebSocket-Version", "13");
        }
        headers.append("Content-Type", "text/plain; charset=utf-8");
        Response::refusal(self.status(), headers, self.to_string().into_bytes())
    }
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::Malformed => f.write_str("malformed HTTP request"),
            RequestError::HeadTooLarge { max } => {
                write!(f, "request head larger than {max} bytes")
            }
            RequestError::TooManyHeaders { max } => {
                write!(f, "request has more than {max} header fields")
            }
            RequestError::WrongMethod => {
                f.write_str("a WebSocket request must be a GET (HTTP/1.1) or a CONNECT (HTTP/2)")
            }
            RequestError::HttpVersion => f.write_str("a WebSocket upgrade needs HTTP/1.1"),
            RequestError::InvalidHost => f.write_str("missing or invalid Host"),
            RequestError::NotWebSocket => f.write_str("not a WebSocket upgrade request"),
            RequestError::MissingConnectionUpgrade => {
                f.write_str("Connection header does not list Upgrade")
            }
            RequestError::InvalidKey => f.write_str("missing or invalid Sec-WebSocket-Key"),
            RequestError::UnsupportedVersion => f.write_str("unsupported Sec-WebSocket-Version"),
            RequestError::InvalidProtocols => f.write_str("invalid Sec-WebSocket-Protocol"),
            RequestError::InvalidExtensions => f.write_str("invalid Sec-WebSocket-Extensions"),
            RequestError::AlreadyComplete => f.write_str("input after the handshake completed"),
            RequestError::Timeout => f.write_str("the request head did not arrive in time"),
        }
    }
}

impl core::error::Error for RequestError {}

/// Why a client refused the server's handshake response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResponseErrorKind {
    /// The head is not a well-formed HTTP/1.x response.
    Malformed,
    /// The head did not end within [`Config::max_handshake_len`](crate::Config::max_handshake_len) bytes.
    HeadTooLarge,
    /// The head has more than [`Config::max_headers`](crate::Config::max_headers) fields.
    TooManyHeaders,
    /// The response is not HTTP/1.1.
    HttpVersion,
    /// The status is not 101: the server refused, redirected (see
    /// `Location`) or asks for credentials (see `WWW-Authenticate`).
    NotSwitching,
    /// `Upgrade` does not name `websocket`.
    NotWebSocket,
    /// `Connection` does not list `Upgrade`.
    MissingConnectionUpgrade,
    /// `Sec-WebSocket-Accept` is missing, repeated or does not match the key.
    InvalidAccept,
    /// `Sec-WebSocket-Protocol` names a subprotocol the client did not
    /// offer, or more than one.
    ProtocolNotOffered,
    /// `Sec-WebSocket-Extensions` is malformed, names an extension the
    /// client did not offer, or names one twice.
    ExtensionNotOffered,
    /// The server accepted permessage-deflate with parameters that are
    /// invalid (RFC 7692 section 7.1) or that the offer did not allow.
    InvalidExtensionParams,
    /// Input arrived after the handshake had already completed: a driver
    /// bug (those bytes belong to the connection).
    AlreadyComplete,
    /// The response head did not arrive within
    /// [`Config::handshake_timeout`](crate::Config::handshake_timeout),
    /// counted from the first
    /// [`ClientHandshake::handle_timeout`](super::ClientHandshake::handle_timeout)
    /// call. Nothing complete was received, so there is no
    /// [`response`](ResponseError::response) or
    /// [`status`](ResponseError::status).
    Timeout,
}

/// A client refused the server's handshake response. The received
/// response is kept whenever its head could be parsed, so a redirect's
/// `Location` or a 401's `WWW-Authenticate` stays visible.
///
/// Errors are sticky: a [`ClientHandshake`](super::ClientHandshake) that
/// failed returns the same error for any later input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseError {
    kind: ResponseErrorKind,
    response: Option<Box<Response>>,
}

impl ResponseError {
    pub(crate) fn new(kind: ResponseErrorKind, response: Option<Response>) -> Self {
        ResponseError {
            kind,
            response: response.map(Box::new),
        }
    }

    /// What was wrong.
    pub fn kind(&self) -> ResponseErrorKind {
        self.kind
    }

    /// The response as received, when its head parsed.
    pub fn response(&self) -> Option<&Response> {
        self.response.as_deref()
    }

    /// The received status code, when the head parsed.
    pub fn status(&self) -> Option<u16> {
        self.response().map(Response::status)
    }
}

impl fmt::Display for ResponseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            ResponseErrorKind::Malformed => "malformed HTTP response",
            ResponseErrorKind::HeadTooLarge => "response head too large",
            ResponseErrorKind::TooManyHeaders => "too many response header fields",
            ResponseErrorKind::HttpVersion => "response is not HTTP/1.1",
            ResponseErrorKind::NotSwitching => "server refused the upgrade",
            ResponseErrorKind::NotWebSocket => "response Upgrade is not websocket",
            ResponseErrorKind::MissingConnectionUpgrade => {
                "response Connection does not list Upgrade"
            }
            ResponseErrorKind::InvalidAccept => "wrong or missing Sec-WebSocket-Accept",
            ResponseErrorKind::ProtocolNotOffered => "server chose a subprotocol not offered",
            ResponseErrorKind::ExtensionNotOffered => "server chose an extension not offered",
            ResponseErrorKind::InvalidExtensionParams => {
                "server answered permessage-deflate with parameters the offer does not allow"
            }
            ResponseErrorKind::AlreadyComplete => "input after the handshake completed",
            ResponseErrorKind::Timeout => "the response head did not arrive in time",
        };
        f.write_str(what)?;
        if let Some(response) = self.response() {
            write!(f, " (status {} {})", response.status(), response.reason())?;
        }
        Ok(())
    }
}

impl core::error::Error for ResponseError {}
