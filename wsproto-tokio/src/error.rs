//! The driver's one error type.

use std::{fmt, io};

use wsproto::handshake::{BuildError, RequestError, ResponseError};
use wsproto::{ConnectionError, SendError};

/// What can go wrong on a [`WebSocket`](crate::WebSocket), its handshake
/// included.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The transport failed (or ended in the middle of the handshake).
    Io(io::Error),
    /// The connection ended without a clean closing handshake: the peer
    /// broke the protocol (our close frame with the error's code was sent
    /// first), the transport ended without a close frame, or a close or
    /// keepalive timeout ran out. [`ConnectionError::close_code`] says
    /// which code describes it.
    Connection(ConnectionError),
    /// A message could not be sent: misuse (a ping over 125 bytes, a close
    /// reason over 123, a send after the close) or a failure of the mask
    /// source or the compressor.
    Send(SendError),
    /// The connection is closed: the closing handshake finished (or the
    /// connection failed, and that error was already returned).
    Closed,
    /// A server refused the client's upgrade, or answered it wrongly
    /// ([`ResponseError::status`] has its HTTP status, if any).
    Response(ResponseError),
    /// A client's upgrade request was refused (the response with its
    /// status was written to it before this returned).
    Request(RequestError),
    /// The request or response could not be built: a bad URL, header,
    /// subprotocol or extension.
    Build(BuildError),
    /// The application's callback refused the upgrade with this HTTP
    /// status (the response was written before this returned).
    Refused(u16),
    /// `wss://` without the `rustls` feature, or a URL scheme other than
    /// `ws` and `wss`.
    UnsupportedTls,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "I/O error: {e}"),
            Error::Connection(e) => write!(f, "{e}"),
            Error::Send(e) => write!(f, "cannot send: {e}"),
            Error::Closed => f.write_str("the connection is closed"),
            Error::Response(e) => write!(f, "the server refused the upgrade: {e}"),
            Error::Request(e) => write!(f, "bad upgrade request: {e}"),
            Error::Build(e) => write!(f, "cannot build the handshake: {e}"),
            Error::Refused(status) => write!(f, "upgrade refused with {status}"),
            Error::UnsupportedTls => {
                f.write_str("wss:// needs the `rustls` feature of wsproto-tokio")
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            Error::Connection(e) => Some(e),
            Error::Send(e) => Some(e),
            Error::Response(e) => Some(e),
            Error::Request(e) => Some(e),
            Error::Build(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(error: io::Error) -> Self {
        Error::Io(error)
    }
}

impl From<ConnectionError> for Error {
    fn from(error: ConnectionError) -> Self {
        Error::Connection(error)
    }
}

impl From<SendError> for Error {
    fn from(error: SendError) -> Self {
        Error::Send(error)
    }
}

impl From<BuildError> for Error {
    fn from(error: BuildError) -> Self {
        Error::Build(error)
    }
}

impl From<ResponseError> for Error {
    fn from(error: ResponseError) -> Self {
        Error::Response(error)
    }
}

impl From<RequestError> for Error {
    fn from(error: RequestError) -> Self {
        Error::Request(error)
    }
}
