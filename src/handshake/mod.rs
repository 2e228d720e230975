//! The opening handshake (RFC 6455 section 4): the HTTP exchange that turns
//! a connection into a WebSocket, for both roles, plus the handover from an
//! HTTP server that already parsed the request and RFC 8441 (WebSocket over
//! an HTTP/2 stream).
//!
//! - **Server**: [`ServerHandshake`] reads the request from bytes in any
//!   chunks and gives a validated [`Request`]; the application looks at it
//!   and either [`accept`](Request::accept)s (a `101` [`Response`]) or
//!   refuses with a [`Response`] of its own. Invalid requests are a
//!   [`RequestError`] carrying the 400 / 426 / 431 to answer.
//! - **Client**: [`ClientRequest`] describes the URL, subprotocols and
//!   headers; [`ClientHandshake`] writes the request and checks the
//!   response, giving [`Upgraded`] (the connection) or a [`ResponseError`]
//!   that keeps the received status and headers.
//! - **Handover**: [`Request::from_parts`] validates a request another
//!   server parsed, [`Request::from_extended_connect`] an HTTP/2 one; with
//!   the `http` feature, `http::Request` and `http::Response` convert
//!   directly.
//!
//! Bytes that arrive after the head (a client may send its first frames at
//! once) are carried to the [`Connection`](crate::Connection), never lost.

mod accept;
mod build_error;
mod client;
mod client_request;
#[cfg(feature = "deflate")]
mod deflate_negotiation;
mod error;
mod extension;
mod head;
mod headers;
#[cfg(feature = "http")]
mod http_types;
mod key;
mod request;
mod response;
mod server;
mod timer;
mod url;

pub use accept::Accept;
pub use build_error::{BuildError, UrlError};
pub use client::{ClientHandshake, Upgraded};
pub use client_request::ClientRequest;
pub use error::{RequestError, ResponseError, ResponseErrorKind};
pub use extension::{Extension, InvalidExtension};
pub use headers::Headers;
pub use key::accept_key;
pub use request::{HttpVersion, Request};
pub use response::Response;
pub use server::ServerHandshake;
