//! The server's view of an upgrade request once its head is complete:
//! [`Request`] validates it (from the bytes
//! [`ServerHandshake`](super::ServerHandshake) read, from parts another
//! HTTP server parsed, or from an HTTP/2 extended `CONNECT`), shows what
//! it carries, and turns it into the accepting response and the
//! connection.

use crate::prelude::*;

use super::accept::Accept;
use super::build_error::BuildError;
#[cfg(feature = "deflate")]
use super::deflate_negotiation;
use super::error::RequestError;
use super::extension::{self, BadChoice, Extension};
use super::headers::{Headers, is_token, list_elements, single_str};
use super::key::{accept_key, is_valid_key};
use super::response::{Response, push_header};
use crate::{Config, Connection, Role};

/// The HTTP version a request arrived in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HttpVersion {
    /// HTTP/1.0: refused, WebSocket needs 1.1.
    Http10,
    /// HTTP/1.1: the `Upgrade` handshake of RFC 6455.
    Http11,
    /// HTTP/2: the extended `CONNECT` of RFC 8441.
    Http2,
}

/// A validated upgrade request, for the application to decide on.
///
/// Everything the request carried is here: method, path and query, `Host`,
/// `Origin`, every header (cookies, authorization), the subprotocols and
/// extensions offered in order. Nothing is decided for you: refuse with any
/// [`Response`] (403 for a foreign `Origin`, 401, 404), or
/// [`accept`](Self::accept).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    method: String,
    target: String,
    version: HttpVersion,
    host: String,
    headers: Headers,
    /// `None` over HTTP/2, where RFC 8441 has no key.
    key: Option<String>,
    protocols: Vec<String>,
    extensions: Vec<Extension>,
    leftover: Vec<u8>,
    /// The permessage-deflate offer chosen, with the answer to send.
    #[cfg(feature = "deflate")]
    deflate: Option<(crate::DeflateParams, Extension)>,
}

impl Request {
    /// Validates an HTTP/1.1 upgrade request that another HTTP server has
    /// already parsed (the handover case: hyper, axum, your own parser).
    /// `target` is the request target (`/chat?room=1`).
    ///
    /// Bytes that server read past the head are yours to pass on: feed them
    /// to the connection with [`Connection::recv`] right after
    /// [`into_connection`](Self::into_connection).
    ///
    /// ```
    /// use wsproto::handshake::{Accept, Headers, HttpVersion, Request};
    /// use wsproto::{Config, Connection, Role};
    ///
    /// // What your HTTP server parsed, and the bytes it read past the head.
    /// let headers: Headers = [
    ///     ("host", "example.com"),
    ///     ("upgrade", "websocket"),
    ///     ("connection", "keep-alive, Upgrade"),
    ///     ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ///     ("sec-websocket-version", "13"),
    /// ]
    /// .into_iter()
    /// .collect();
    /// let already_read: &[u8] = &[];
    ///
    /// let request = Request::from_parts("GET", "/chat", HttpVersion::Http11, headers)?;
    /// let response = request.accept(&Accept::new())?;
    /// assert_eq!(response.status(), 101);
    /// assert_eq!(
    ///     response.headers().get_str("Sec-WebSocket-Accept"),
    ///     Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
    /// );
    /// // Your server writes `response` (as parts, or `response.to_bytes()`),
    /// // then gives the socket to the connection:
    /// let mut connection = request.into_connection(Config::default());
    /// connection.recv(already_read);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_parts(
        method: &str,
        target: &str,
        version: HttpVersion,
        headers: Headers,
    ) -> Result<Request, RequestError> {
        if method != "GET" {
            return Err(RequestError::WrongMethod);
        }
        if version != HttpVersion::Http11 {
            return Err(RequestError::HttpVersion);
        }
        let host = single_str(&headers, "Host").ok_or(RequestError::InvalidHost)?;
        // RFC 9112 section 3.2.2: with an absolute-form target, the
        // target's authority overrides `Host` (which must still be sent).
        let host = match split_absolute_form(target) {
            Some((authority, _)) if !authority.is_empty() => authority,
            _ => host,
        }
        .to_owned();
        if !headers.has_token("Upgrade", "websocket") {
            return Err(RequestError::NotWebSocket);
        }
        if !headers.has_token("Connection", "upgrade") {
            return Err(RequestError::MissingConnectionUpgrade);
        }
        check_version(&headers)?;
        let key = single_str(&headers, "Sec-WebSocket-Key")
            .filter(|key| is_valid_key(key))
            .ok_or(RequestError::InvalidKey)?
            .to_owned();
        Request::validated(method, target, version, host, Some(key), headers)
    }

    /// Validates an RFC 8441 extended `CONNECT` request: WebSocket over an
    /// HTTP/2 stream. Pass the `:method`, `:protocol`, `:authority` and
    /// `:path` pseudo-headers and the regular fields. There is no key and
    /// no accept: [`accept`](Self::accept) gives a 200, and the same
    /// [`Connection`] then runs over the stream's data.
    pub fn from_extended_connect(
        method: &str,
        protocol: &str,
        authority: &str,
        path: &str,
        headers: Headers,
    ) -> Result<Request, RequestError> {
        if method != "CONNECT" {
            return Err(RequestError::WrongMethod);
        }
        if !protocol.eq_ignore_ascii_case("websocket") {
            return Err(RequestError::NotWebSocket);
        }
        if authority.is_empty() {
            return Err(RequestError::InvalidHost);
        }
        check_version(&headers)?;
        Request::validated(
            method,
            path,
            HttpVersion::Http2,
            authority.to_owned(),
            None,
            headers,
        )
    }

    /// The checks both versions share: subprotocol and extension offers.
    fn validated(
        method: &str,
        target: &str,
        version: HttpVersion,
        host: String,
        key: Option<String>,
        headers: Headers,
    ) -> Result<Request, RequestError> {
        let mut protocols = Vec::new();
        for element in headers
            .get_all("Sec-WebSocket-Protocol")
            .flat_map(list_elements)
        {
            if !is_token(element) {
                return Err(RequestError::InvalidProtocols);
            }
            protocols.push(String::from_utf8_lossy(element).into_owned());
        }
        let mut extensions = Vec::new();
        for value in headers.get_all("Sec-WebSocket-Extensions") {
            extension::parse_into(value, &mut extensions)
                .map_err(|_| RequestError::InvalidExtensions)?;
        }
        Ok(Request {
            method: method.to_owned(),
            target: target.to_owned(),
            version,
            host,
            key,
            protocols,
            extensions,
            headers,
            leftover: Vec::new(),
            #[cfg(feature = "deflate")]
            deflate: None,
        })
    }

    /// Chooses among the client's permessage-deflate offers by `config`
    /// (the first one it can honour; none if `config.enabled` is false) and
    /// returns what was agreed. [`accept`](Self::accept) then answers it
    /// and [`into_connection`](Self::into_connection) applies it.
    ///
    /// [`ServerHandshake`](super::ServerHandshake) calls this with its
    /// [`Config::deflate`](Config::deflate); call it yourself after
    /// [`from_parts`](Self::from_parts), or to decide per request (a
    /// disabled config declines).
    #[cfg(feature = "deflate")]
    pub fn negotiate_deflate(
        &mut self,
        config: &crate::DeflateConfig,
    ) -> Option<crate::DeflateParams> {
        self.deflate = deflate_negotiation::accept_offers(&self.extensions, config);
        self.deflate()
    }

    /// The permessage-deflate parameters agreed on, if any (see
    /// [`negotiate_deflate`](Self::negotiate_deflate)).
    #[cfg(feature = "deflate")]
    pub fn deflate(&self) -> Option<crate::DeflateParams> {
        self.deflate.as_ref().map(|(params, _)| *params)
    }

    /// The method: `GET`, or `CONNECT` over HTTP/2.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The HTTP version the request came in.
    pub fn version(&self) -> HttpVersion {
        self.version
    }

    /// The request target as sent: usually path and query
    /// (`/chat?room=1`), possibly the absolute form
    /// (`http://example.com/chat?room=1`).
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The target's path and query, whichever form it came in.
    fn resource(&self) -> &str {
        match split_absolute_form(&self.target) {
            Some((_, resource)) => resource,
            None => &self.target,
        }
    }

    /// The path (`/chat`), still percent-encoded; `/` when an absolute-form
    /// target has none.
    pub fn path(&self) -> &str {
        match self.resource().split('?').next() {
            Some("") | None => "/",
            Some(path) => path,
        }
    }

    /// The query after `?` (`room=1`), if any, still percent-encoded.
    pub fn query(&self) -> Option<&str> {
        self.resource().split_once('?').map(|(_, query)| query)
    }

    /// The `Host` header (`:authority` over HTTP/2).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The `Origin` header a browser sends; compare it with the origins you
    /// serve to stop other sites' pages from connecting with your users'
    /// cookies.
    pub fn origin(&self) -> Option<&str> {
        self.headers.get_str("Origin")
    }

    /// Every header field, in order.
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// The subprotocols offered, in the client's order of preference.
    pub fn protocols(&self) -> impl Iterator<Item = &str> {
        self.protocols.iter().map(String::as_str)
    }

    /// The extensions offered with their parameters, in order.
    pub fn extensions(&self) -> &[Extension] {
        &self.extensions
    }

    /// The `Sec-WebSocket-Key`; `None` over HTTP/2.
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// Bytes that arrived after the head in the same input: the client's
    /// first frames. [`into_connection`](Self::into_connection) feeds them
    /// to the connection.
    pub fn leftover(&self) -> &[u8] {
        &self.leftover
    }

    /// Keeps the bytes [`ServerHandshake`](super::ServerHandshake) read past
    /// the head, for [`into_connection`](Self::into_connection).
    pub(super) fn set_leftover(&mut self, leftover: Vec<u8>) {
        self.leftover = leftover;
    }

    /// Takes the leftover bytes out, for a driver that feeds them itself.
    /// Without it, [`into_connection`](Self::into_connection) keeps them in
    /// the connection, where either receive level hands them out first.
    pub fn take_leftover(&mut self) -> Vec<u8> {
        core::mem::take(&mut self.leftover)
    }

    /// The response that accepts the upgrade: `101 Switching Protocols`
    /// with `Sec-WebSocket-Accept` over HTTP/1.1, `200` over HTTP/2, plus
    /// the chosen subprotocol, extensions and extra headers of `accept`.
    ///
    /// Fails, producing nothing, if the subprotocol or an extension was not
    /// offered, or a header is invalid or one the handshake writes itself.
    pub fn accept(&self, accept: &Accept) -> Result<Response, BuildError> {
        let mut headers = Headers::new();
        if let Some(key) = &self.key {
            headers.append("Upgrade", "websocket");
            headers.append("Connection", "Upgrade");
            headers.append(
                "Sec-WebSocket-Accept",
                accept_key(key.as_bytes()).as_slice(),
            );
        }
        if let Some(protocol) = &accept.protocol {
            if !self.protocols.iter().any(|offered| offered == protocol) {
                return Err(BuildError::ProtocolNotOffered(protocol.clone()));
            }
            headers.append("Sec-WebSocket-Protocol", protocol.as_str());
        }
        #[cfg(feature = "deflate")]
        if let Some(managed) = accept
            .extensions
            .iter()
            .find(|e| deflate_negotiation::is_deflate(e))
        {
            // Negotiated by `negotiate_deflate`, so the connection applies it.
            return Err(BuildError::InvalidExtension(managed.name().into()));
        }
        #[allow(unused_mut)] // without the deflate feature
        let mut chosen = accept.extensions.clone();
        #[cfg(feature = "deflate")]
        chosen.extend(self.deflate.iter().map(|(_, answer)| answer.clone()));
        if !chosen.is_empty() {
            extension::check_choices(&chosen, &self.extensions).map_err(|bad| match bad {
                BadChoice::NotOffered(name) => BuildError::ExtensionNotOffered(name.into()),
                BadChoice::Repeated(name) => BuildError::InvalidExtension(name.into()),
            })?;
            headers.append("Sec-WebSocket-Extensions", extension::list_value(&chosen));
        }
        for (name, value) in accept.headers.iter() {
            push_header(&mut headers, name, value, &ACCEPT_OWNED)?;
        }
        let status = if self.key.is_some() { 101 } else { 200 };
        Ok(Response::tunnel(status, headers))
    }

    /// The server's [`Connection`] for this request, holding the
    /// [leftover](Self::leftover) bytes: the client's first messages come
    /// first at [`Connection::poll_event`] or
    /// [`poll_event_from`](Connection::poll_event_from), and at
    /// [`recv_in_place`](Connection::recv_in_place) after
    /// [`into_streaming`](Connection::into_streaming).
    pub fn into_connection(self, config: Config) -> Connection {
        let mut connection = Connection::new(Role::Server, config.clone());
        #[cfg(feature = "deflate")]
        if let Some((params, _)) = self.deflate {
            connection.enable_deflate(params, &config);
        }
        if !self.leftover.is_empty() {
            connection.recv(&self.leftover);
        }
        connection
    }
}

/// Headers an accepting response writes itself.
const ACCEPT_OWNED: [&str; 8] = [
    "Upgrade",
    "Connection",
    "Sec-WebSocket-Accept",
    "Sec-WebSocket-Protocol",
    "Sec-WebSocket-Extensions",
    "Sec-WebSocket-Version",
    "Content-Length",
    "Transfer-Encoding",
];

/// An absolute-form target (`http://host/path?query`) split into its
/// authority and its path and query; `None` for the usual origin form.
fn split_absolute_form(target: &str) -> Option<(&str, &str)> {
    if target.starts_with('/') {
        return None;
    }
    let (_scheme, rest) = target.split_once("://")?;
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    Some(rest.split_at(end))
}

/// `Sec-WebSocket-Version` must be present once and be `13`.
fn check_version(headers: &Headers) -> Result<(), RequestError> {
    match single_str(headers, "Sec-WebSocket-Version") {
        Some("13") => Ok(()),
        _ => Err(RequestError::UnsupportedVersion),
    }
}
