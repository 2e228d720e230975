//! [`Accept`]: what the application adds to the response that accepts an
//! upgrade request. [`Request::accept`](super::Request::accept) checks it
//! against what the client offered and builds the response.

use crate::prelude::*;

use super::extension::Extension;
use super::headers::Headers;

/// What the application adds to an accepting response: at most one
/// subprotocol (one the client offered), extensions (ones the client
/// offered), and extra header fields such as `Set-Cookie`.
///
/// ```
/// use wsproto::handshake::{Accept, Extension, ServerHandshake};
///
/// let mut handshake = ServerHandshake::new(&wsproto::Config::default());
/// let request = handshake
///     .recv(b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
///         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
///         Sec-WebSocket-Protocol: chat.v1\r\nSec-WebSocket-Extensions: x-trace\r\n\r\n")?
///     .expect("complete");
///
/// let accept = Accept::new()
///     .protocol("chat.v1")
///     .extension(Extension::new("x-trace").expect("a token"))
///     .header("Set-Cookie", "session=abc; HttpOnly");
/// let response = request.accept(&accept)?;
/// assert_eq!(response.headers().get_str("sec-websocket-protocol"), Some("chat.v1"));
/// assert_eq!(response.headers().get_str("set-cookie"), Some("session=abc; HttpOnly"));
///
/// // Only what the client offered can be chosen.
/// assert!(request.accept(&Accept::new().protocol("chat.v2")).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Accept {
    // Read by `Request::accept`, which checks them against the request.
    pub(super) protocol: Option<String>,
    pub(super) extensions: Vec<Extension>,
    pub(super) headers: Headers,
}

impl Accept {
    /// Accept with no subprotocol, no extension and no extra header.
    pub fn new() -> Self {
        Self::default()
    }

    /// Chooses the subprotocol; it must be one the client offered.
    pub fn protocol(mut self, protocol: impl Into<String>) -> Self {
        self.protocol = Some(protocol.into());
        self
    }

    /// Accepts an extension (with the parameters of the answer); its name
    /// must be one the client offered.
    pub fn extension(mut self, extension: Extension) -> Self {
        self.extensions.push(extension);
        self
    }

    /// Adds a header field to the 101 response, such as `Set-Cookie`.
    /// Checked by [`Request::accept`](super::Request::accept).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        self.headers.append(name, value);
        self
    }
}
