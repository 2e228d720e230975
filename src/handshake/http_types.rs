//! Conversions to and from the `http` crate's types (feature `http`), for
//! servers and clients built on hyper, axum or anything else that speaks
//! `http::Request` and `http::Response`.

use super::client::{Answer, ClientHandshake, Upgraded};
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
            Answer::Upgrade {
                http11: response.version() == http::Version::HTTP_11,
            },
            response.status().as_u16(),
            headers_of(response.headers()),
            &[],
        );
        self.finish(result, &[])
    }

    /// The request as an extended `CONNECT` for WebSocket over HTTP/2
    /// (RFC 8441) or HTTP/3 (RFC 9220): `CONNECT` with a full URI
    /// (`:scheme` `http` for `ws://`, `https` for `wss://`, `:authority`,
    /// `:path`), `sec-websocket-version: 13`, the subprotocols and
    /// extensions offered (permessage-deflate by the configuration),
    /// `origin` and the application's fields; no `Host`, key, `Upgrade` or
    /// `Connection`. The version is HTTP/2; set HTTP/3 for that.
    ///
    /// The `:protocol` pseudo-header is the HTTP stack's own extension
    /// type: insert `hyper::ext::Protocol::from_static("websocket")` (or
    /// `h2::ext::Protocol`, `h3::ext::Protocol`) before sending, to a
    /// server that advertised `SETTINGS_ENABLE_CONNECT_PROTOCOL`. Check
    /// the response with
    /// [`recv_http_extended_connect_response`](Self::recv_http_extended_connect_response).
    ///
    /// ```
    /// use wsproto::handshake::{Accept, ClientHandshake, ClientRequest, Request};
    /// use wsproto::Config;
    ///
    /// let mut config = Config::default();
    /// config.deflate.enabled = true;
    /// let request = ClientRequest::new("wss://example.com/chat")?.protocol("chat.v1");
    /// let mut client = ClientHandshake::new(&request, config.clone())?;
    /// let connect = client.to_http_extended_connect();
    /// assert_eq!(connect.method(), http::Method::CONNECT);
    /// assert_eq!(connect.uri(), "https://example.com/chat");
    /// assert!(!connect.headers().contains_key("sec-websocket-key"));
    ///
    /// // A server on the other end (normally across an HTTP/2 stream):
    /// let mut offer = Request::from_http_extended_connect(&connect, "websocket")?;
    /// offer.negotiate_deflate(&config.deflate);
    /// let response = offer.accept(&Accept::new().protocol("chat.v1"))?.to_http();
    /// assert_eq!(response.status(), http::StatusCode::OK);
    ///
    /// let upgraded = client.recv_http_extended_connect_response(&response)?;
    /// assert_eq!(upgraded.protocol(), Some("chat.v1"));
    /// assert!(upgraded.deflate().is_some());
    /// let mut connection = upgraded.into_connection();
    /// connection.send_text("hello")?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn to_http_extended_connect(&self) -> http::Request<()> {
        let (resource, fields) = self.request_parts();
        // The request always has its one `Host`, built from the URL.
        let authority = fields.get_str("Host").unwrap_or_default();
        let mut request = http::Request::new(());
        *request.method_mut() = http::Method::CONNECT;
        *request.version_mut() = http::Version::HTTP_2;
        let scheme = if self.is_tls() { "https" } else { "http" };
        // Checked when the request was built, like the fields.
        if let Ok(uri) = alloc::format!("{scheme}://{authority}{resource}").parse() {
            *request.uri_mut() = uri;
        }
        let tunnel_fields: Headers = fields
            .iter()
            .filter(|(name, _)| {
                !HTTP11_ONLY
                    .iter()
                    .any(|only| only.eq_ignore_ascii_case(name))
            })
            .collect();
        append_fields(request.headers_mut(), &tunnel_fields);
        request
    }

    /// Checks the response to [`to_http_extended_connect`](Self::to_http_extended_connect)
    /// as [`recv_http_response`](Self::recv_http_response) checks a `101`:
    /// a 2xx status (anything else is
    /// [`NotSwitching`](super::ResponseErrorKind::NotSwitching), with the
    /// response kept), at most one subprotocol and only extensions that
    /// were offered, permessage-deflate's parameters within the offer. The
    /// connection then runs over the stream's data.
    pub fn recv_http_extended_connect_response<B>(
        &mut self,
        response: &http::Response<B>,
    ) -> Result<Upgraded, ResponseError> {
        self.check_usable()?;
        let result = self.check_parts(
            Answer::ExtendedConnect,
            response.status().as_u16(),
            headers_of(response.headers()),
            &[],
        );
        self.finish(result, &[])
    }
}

/// Fields of the HTTP/1.1 upgrade that an extended CONNECT leaves out:
/// `:authority` replaces `Host`, `:protocol` the upgrade, and there is no
/// key (RFC 8441 section 5).
const HTTP11_ONLY: [&str; 4] = ["Host", "Upgrade", "Connection", "Sec-WebSocket-Key"];
