//! Conversions to and from the `http` crate's types (feature `http`), for
//! servers and clients built on hyper, axum or anything else that speaks
//! `http::Request` and `http::Response`.

use super::client::{ClientHandshake, Upgraded};
use super::error::{RequestError, ResponseError};
use super::headers::Headers;
use super::request::{HttpVersion, Request};
use super::response::Response;

fn headers_of(map: &http::HeaderMap) -> Headers {
    map.iter()
        .map(|(name, value)| (name.as_str(), value.as_bytes()))
        .collect()
}

/// Appends our fields to an `http` map. Every field was checked when it was
/// built or parsed, so both conversions succeed.
fn append_fields(map: &mut http::HeaderMap, fields: &Headers) {
    for (name, value) in fields.iter() {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(name.as_bytes()),
            http::HeaderValue::from_bytes(value),
        ) {
            map.append(name, value);
        }
    }
}

impl Request {
    /// Validates an HTTP/1.1 upgrade request that an `http`-based server
    /// (hyper, axum) parsed. Then [`accept`](Self::accept) it, answer with
    /// [`Response::to_http`], and once the server hands over the upgraded
    /// I/O, run [`into_connection`](Self::into_connection) over it. For
    /// permessage-deflate, call `negotiate_deflate` before accepting.
    ///
    /// ```
    /// use wsproto::handshake::{Accept, Request};
    ///
    /// let incoming = http::Request::get("/ws")
    ///     .header("Host", "example.com")
    ///     .header("Upgrade", "websocket")
    ///     .header("Connection", "Upgrade")
    ///     .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
    ///     .header("Sec-WebSocket-Version", "13")
    ///     .body(())?;
    /// let request = Request::from_http(&incoming)?;
    /// let response: http::Response<()> = request.accept(&Accept::new())?.to_http();
    /// assert_eq!(response.status(), http::StatusCode::SWITCHING_PROTOCOLS);
    /// assert_eq!(response.headers()["sec-websocket-accept"], "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_http<B>(request: &http::Request<B>) -> Result<Request, RequestError> {
        let version = match request.version() {
            http::Version::HTTP_2 | http::Version::HTTP_3 => HttpVersion::Http2,
            http::Version::HTTP_11 => HttpVersion::Http11,
            _ => HttpVersion::Http10,
        };
        let target = request
            .uri()
            .path_and_query()
            .map_or("/", http::uri::PathAndQuery::as_str);
        Request::from_parts(
            request.method().as_str(),
            target,
            version,
            headers_of(request.headers()),
        )
    }

    /// Validates an RFC 8441 extended `CONNECT` request from an HTTP/2
    /// server. `protocol` is the `:protocol` pseudo-header, which servers
    /// keep in the request's extensions (`h2::ext::Protocol`,
    /// `hyper::ext::Protocol`); `:authority` and `:path` come from the URI.
    ///
    /// ```
    /// use wsproto::handshake::{Accept, Request};
    ///
    /// let incoming = http::Request::connect("https://example.com/chat")
    ///     .version(http::Version::HTTP_2)
    ///     .header("sec-websocket-version", "13")
    ///     .body(())?;
    /// let request = Request::from_http_extended_connect(&incoming, "websocket")?;
    /// assert_eq!(request.key(), None);
    /// let response = request.accept(&Accept::new())?.to_http();
    /// assert_eq!(response.status(), http::StatusCode::OK);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_http_extended_connect<B>(
        request: &http::Request<B>,
        protocol: &str,
    ) -> Result<Request, RequestError> {
        let uri = request.uri();
        Request::from_extended_connect(
            request.method().as_str(),
            protocol,
            uri.authority().map_or("", http::uri::Authority::as_str),
            uri.path_and_query()
                .map_or("/", http::uri::PathAndQuery::as_str),
            headers_of(request.headers()),
        )
    }
}

impl Response {
    /// The status and header fields as an `http::Response` (the body, if
    /// any, is [`body_bytes`](Self::body_bytes); your HTTP server frames it).
    pub fn to_http(&self) -> http::Response<()> {
        let mut response = http::Response::new(());
        *response.status_mut() = http::StatusCode::from_u16(self.status())
            .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
        append_fields(response.headers_mut(), self.headers());
        response
    }
}

impl ClientHandshake {
    /// The upgrade request as an `http::Request`, for a client that sends
    /// it through an `http`-based stack (such as hyper's upgrade support).
    pub fn to_http_request(&self) -> http::Request<()> {
        let (resource, fields) = self.request_parts();
        let mut request = http::Request::new(());
        *request.version_mut() = http::Version::HTTP_11;
        // The resource and fields were checked when the request was built
        // (URL grammar, tokens, no control characters), so they convert.
        if let Ok(uri) = resource.parse() {
            *request.uri_mut() = uri;
        }
        append_fields(request.headers_mut(), fields);
        request
    }

    /// Checks a response that an `http`-based client received, exactly as
    /// [`recv`](Self::recv) checks bytes. Bytes the client stack read after
    /// the head go to the connection with [`crate::Connection::recv`].
    pub fn recv_http_response<B>(
        &mut self,
        response: &http::Response<B>,
    ) -> Result<Upgraded, ResponseError> {
        self.check_usable()?;
        let result = self.check_parts(
            response.version() == http::Version::HTTP_11,
            response.status().as_u16(),
            headers_of(response.headers()),
            &[],
        );
        self.finish(result, &[])
    }
}
