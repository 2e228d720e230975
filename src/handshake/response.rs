//! HTTP responses: the ones a server writes (101, 200 for HTTP/2, or a
//! rejection) and the head a client received.

use crate::prelude::*;

use super::build_error::BuildError;
use super::headers::{Headers, is_field_value, is_token, write_fields};

/// An HTTP response: status, header fields and body.
///
/// A server gets one from [`Request::accept`](super::Request::accept)
/// (the `101 Switching Protocols`), from
/// [`RequestError::response`](super::RequestError::response) (400, 426,
/// 431), or builds a rejection of its own with [`Response::new`]. Write it
/// with [`write_to`](Self::write_to), or hand the parts to your HTTP server.
/// A client sees the one it received in
/// [`Upgraded`](super::Upgraded) or in a [`ResponseError`](super::ResponseError).
///
/// ```
/// use wsproto::handshake::Response;
///
/// let response = Response::new(403)?
///     .header("Content-Type", "text/plain")?
///     .body("origin not allowed");
/// assert_eq!(
///     response.to_bytes(),
///     b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\n\
///       Content-Length: 18\r\nConnection: close\r\n\r\norigin not allowed",
/// );
/// # Ok::<(), wsproto::handshake::BuildError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    status: u16,
    headers: Headers,
    body: Vec<u8>,
    framing: Framing,
}

/// What the serialized head says about the body and the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framing {
    /// 101, or 200 to an HTTP/2 CONNECT: no body, the stream carries frames.
    Tunnel,
    /// A refusal: `Content-Length`, then the transport closes.
    Refusal,
    /// Received by a client: every field as it came, written back verbatim.
    Received,
}

/// Headers a refusal writes itself; the application may not set them.
const REFUSAL_OWNED: [&str; 3] = ["Content-Length", "Transfer-Encoding", "Connection"];

impl Response {
    /// A response that refuses the upgrade with `status` (200 to 599; 401,
    /// 403 and 404 are the usual ones), or any plain answer that ends the
    /// exchange, such as a page served beside the WebSocket endpoint. It
    /// will be written with `Content-Length` and `Connection: close`, since
    /// the driver closes the transport after writing it.
    pub fn new(status: u16) -> Result<Self, BuildError> {
        if !(200..=599).contains(&status) {
            return Err(BuildError::InvalidStatus(status));
        }
        Ok(Response {
            status,
            headers: Headers::new(),
            body: Vec::new(),
            framing: Framing::Refusal,
        })
    }

    /// A `500 Internal Server Error` with a short plain-text body, for a
    /// server whose own answer could not be built: a [`BuildError`] from
    /// [`accept`](super::Request::accept) or [`new`](Self::new) is a bug on
    /// the server's side, not the client's. Never fails.
    ///
    /// ```
    /// use wsproto::handshake::{Accept, Response, ServerHandshake};
    ///
    /// let mut handshake = ServerHandshake::new(&wsproto::Config::default());
    /// let request = handshake
    ///     .recv(b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
    ///         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")?
    ///     .expect("complete");
    /// // The client offered no subprotocol: choosing one is the server's bug.
    /// let answer = request
    ///     .accept(&Accept::new().protocol("chat.v1"))
    ///     .unwrap_or_else(|_| Response::internal_error());
    /// assert_eq!(answer.status(), 500);
    /// assert_eq!(answer.body_bytes(), b"internal server error");
    /// # Ok::<(), wsproto::handshake::RequestError>(())
    /// ```
    pub fn internal_error() -> Self {
        let mut headers = Headers::new();
        headers.append("Content-Type", "text/plain; charset=utf-8");
        Response::refusal(500, headers, b"internal server error".to_vec())
    }

    /// The response that carries the connection on (101 over HTTP/1.1, 200
    /// over an HTTP/2 stream).
    pub(crate) fn tunnel(status: u16, headers: Headers) -> Self {
        Response {
            status,
            headers,
            body: Vec::new(),
            framing: Framing::Tunnel,
        }
    }

    /// A refusal with its parts.
    pub(crate) fn refusal(status: u16, headers: Headers, body: Vec<u8>) -> Self {
        Response {
            status,
            headers,
            body,
            framing: Framing::Refusal,
        }
    }

    /// A response as a client received it; `body` is whatever followed the
    /// head in the same input.
    pub(crate) fn received(status: u16, headers: Headers, body: Vec<u8>) -> Self {
        Response {
            status,
            headers,
            body,
            framing: Framing::Received,
        }
    }

    /// Adds a header field, such as `WWW-Authenticate` on a 401 or
    /// `Location` on a redirect. The name must be a token and the value
    /// free of control characters; `Content-Length`, `Transfer-Encoding`
    /// and `Connection` are written by the response itself.
    pub fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Result<Self, BuildError> {
        push_header(&mut self.headers, name, value.as_ref(), &REFUSAL_OWNED)?;
        Ok(self)
    }

    /// Sets the body (a short explanation is kind to people debugging).
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The standard reason phrase for the status, or `""` for codes
    /// without a common one.
    pub fn reason(&self) -> &'static str {
        reason_phrase(self.status)
    }

    /// The header fields. A response built here leaves out those it writes
    /// itself (`Content-Length` and `Connection` on a refusal); a response a
    /// client received keeps every field as it came, and is written back
    /// verbatim.
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// The body. For a response a client received, the bytes that arrived
    /// after the head in the same input: possibly only the start of it.
    pub fn body_bytes(&self) -> &[u8] {
        &self.body
    }

    /// Appends the HTTP/1.1 bytes of the response to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"HTTP/1.1 ");
        out.extend_from_slice(self.status.to_string().as_bytes());
        out.push(b' ');
        out.extend_from_slice(self.reason().as_bytes());
        out.extend_from_slice(b"\r\n");
        let length = self.body.len().to_string();
        let framing: &[(&str, &[u8])] = match self.framing {
            Framing::Refusal => &[
                ("Content-Length", length.as_bytes()),
                ("Connection", b"close"),
            ],
            Framing::Tunnel | Framing::Received => &[],
        };
        write_fields(out, self.headers.iter().chain(framing.iter().copied()));
        out.extend_from_slice(&self.body);
    }

    /// The HTTP/1.1 bytes of the response.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128 + self.body.len());
        self.write_to(&mut out);
        out
    }
}

/// Checks an application-supplied field and appends it.
pub(crate) fn push_header(
    headers: &mut Headers,
    name: &str,
    value: &[u8],
    owned: &[&str],
) -> Result<(), BuildError> {
    if !is_token(name.as_bytes()) {
        return Err(BuildError::InvalidHeaderName(name.to_owned()));
    }
    if !is_field_value(value) {
        return Err(BuildError::InvalidHeaderValue(name.to_owned()));
    }
    if owned.iter().any(|owned| owned.eq_ignore_ascii_case(name)) {
        return Err(BuildError::ReservedHeader(name.to_owned()));
    }
    headers.append(name, value);
    Ok(())
}

/// Reason phrases of RFC 9110 for the statuses a WebSocket endpoint uses.
fn reason_phrase(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_range_is_checked() {
        assert_eq!(Response::new(101), Err(BuildError::InvalidStatus(101)));
        assert_eq!(Response::new(600), Err(BuildError::InvalidStatus(600)));
        assert!(Response::new(599).is_ok());
    }

    #[test]
    fn header_injection_and_owned_headers_are_refused() {
        let response = Response::new(401).unwrap();
        assert_eq!(
            response.clone().header("X", "a\r\nSet-Cookie: evil"),
            Err(BuildError::InvalidHeaderValue("X".into()))
        );
        assert_eq!(
            response.clone().header("Bad Name", "a"),
            Err(BuildError::InvalidHeaderName("Bad Name".into()))
        );
        assert_eq!(
            response.header("content-length", "5"),
            Err(BuildError::ReservedHeader("content-length".into()))
        );
    }

    #[test]
    fn unknown_status_has_empty_reason() {
        let bytes = Response::new(599).unwrap().to_bytes();
        assert!(bytes.starts_with(b"HTTP/1.1 599 \r\n"));
    }
}
