//! What a client asks for in the opening handshake (RFC 6455 section
//! 4.1): [`ClientRequest`] holds the URL, the subprotocols and extensions
//! to offer, `Origin` and extra fields, and checks every value the
//! application gave when the request's fields are built.
//! [`ClientHandshake`](super::ClientHandshake) writes the request and
//! checks the response.

use crate::prelude::*;

use super::build_error::BuildError;
use super::extension::{self, Extension};
use super::headers::{Headers, is_token};
use super::response::push_header;
use super::url::WsUrl;

/// What a client asks for: the URL, subprotocols and extensions it offers,
/// `Origin`, and extra header fields (cookies, authorization).
///
/// ```
/// use wsproto::handshake::ClientRequest;
///
/// let request = ClientRequest::new("ws://127.0.0.1:9001/chat?room=1")?
///     .protocol("chat.v1")
///     .origin("http://127.0.0.1:9001")
///     .header("Cookie", "session=abc");
/// // Where the driver connects (over TLS when `is_tls`):
/// assert_eq!((request.host(), request.port(), request.is_tls()), ("127.0.0.1", 9001, false));
/// # Ok::<(), wsproto::handshake::BuildError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientRequest {
    url: WsUrl,
    // Read by `ClientHandshake::with_entropy`: what it offers, and the
    // subprotocols a response may choose from.
    pub(super) protocols: Vec<String>,
    pub(super) extensions: Vec<Extension>,
    origin: Option<String>,
    headers: Headers,
}

/// Headers the client request writes itself.
const REQUEST_OWNED: [&str; 10] = [
    "Host",
    "Upgrade",
    "Connection",
    "Sec-WebSocket-Key",
    "Sec-WebSocket-Version",
    "Sec-WebSocket-Protocol",
    "Sec-WebSocket-Extensions",
    "Origin",
    "Content-Length",
    "Transfer-Encoding",
];

impl ClientRequest {
    /// A request for a `ws://` or `wss://` URL (`wss` is the same bytes
    /// over TLS, which the driver supplies).
    pub fn new(url: &str) -> Result<Self, BuildError> {
        Ok(ClientRequest {
            url: WsUrl::parse(url).map_err(BuildError::InvalidUrl)?,
            protocols: Vec::new(),
            extensions: Vec::new(),
            origin: None,
            headers: Headers::new(),
        })
    }

    /// Offers a subprotocol; call again for more, most preferred first.
    pub fn protocol(mut self, protocol: impl Into<String>) -> Self {
        self.protocols.push(protocol.into());
        self
    }

    /// Offers an extension with its parameters.
    ///
    /// An extension changes how frames are encoded; offer only one your
    /// driver applies (this crate implements none yet).
    pub fn extension(mut self, extension: Extension) -> Self {
        self.extensions.push(extension);
        self
    }

    /// Sets `Origin`, as a browser would.
    pub fn origin(mut self, origin: impl Into<String>) -> Self {
        self.origin = Some(origin.into());
        self
    }

    /// Adds a header field (checked by
    /// [`ClientHandshake::new`](super::ClientHandshake::new)).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        self.headers.append(name, value);
        self
    }

    /// The host to connect to (an IPv6 address without brackets).
    pub fn host(&self) -> &str {
        &self.url.host
    }

    /// The port to connect to (80 or 443 unless the URL says otherwise).
    pub fn port(&self) -> u16 {
        self.url.port
    }

    /// Whether the URL is `wss://`: the driver must speak TLS.
    pub fn is_tls(&self) -> bool {
        self.url.tls
    }

    /// The path and query sent in the request line.
    pub fn resource(&self) -> &str {
        &self.url.resource
    }

    /// The request's header fields for `key`, checking every application
    /// value.
    /// The request's header fields; `offers` are the extensions to offer
    /// (the application's plus the ones the handshake manages).
    pub(super) fn fields(&self, key: &str, offers: &[Extension]) -> Result<Headers, BuildError> {
        let mut headers = Headers::new();
        headers.append("Host", self.url.host_header.as_str());
        headers.append("Upgrade", "websocket");
        headers.append("Connection", "Upgrade");
        headers.append("Sec-WebSocket-Key", key);
        headers.append("Sec-WebSocket-Version", "13");
        if let Some(origin) = &self.origin {
            check_value("Origin", origin.as_bytes())?;
            headers.append("Origin", origin.as_str());
        }
        if let Some(bad) = self.protocols.iter().find(|p| !is_token(p.as_bytes())) {
            return Err(BuildError::InvalidProtocol(bad.clone()));
        }
        if !self.protocols.is_empty() {
            headers.append("Sec-WebSocket-Protocol", self.protocols.join(", "));
        }
        if !offers.is_empty() {
            headers.append("Sec-WebSocket-Extensions", extension::list_value(offers));
        }
        for (name, value) in self.headers.iter() {
            push_header(&mut headers, name, value, &REQUEST_OWNED)?;
        }
        Ok(headers)
    }
}

fn check_value(name: &str, value: &[u8]) -> Result<(), BuildError> {
    push_header(&mut Headers::new(), name, value, &[])
}
