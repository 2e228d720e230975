//! WebSocket upgrades from a hyper 1 server (the `hyper` feature).
//!
//! hyper parses the HTTP request and writes the response; this module
//! checks the request with the core (the same checks and statuses as
//! [`accept`](crate::accept)), answers it with the `101`, and, once hyper
//! has written that and handed the connection over
//! (`hyper::upgrade::on`), drives it as a
//! [`WebSocket`].
//!
//! 1. [`upgrade`] (or [`upgrade_with`], to look at the request and choose a
//!    subprotocol or refuse) gives the `101` response and an
//!    [`Upgrading`] future, or an [`UpgradeError`] that
//!    [`into_http`](UpgradeError::into_http) turns into the refusal (400,
//!    426, your own 403...).
//! 2. Return the response from the service, and spawn a task that awaits
//!    the future: it resolves once hyper has sent the response.
//!
//! The connection must be served with upgrades on
//! (`serve_connection(..).with_upgrades()`): without them hyper keeps the
//! connection and the future fails.
//!
//! **HTTP/2** (the `h2` feature): the same calls accept an RFC 8441
//! extended `CONNECT` (`:method CONNECT`, `:protocol websocket`,
//! `sec-websocket-version: 13`) and answer it with a `200`; the
//! [`WebSocket`] then runs over the stream's DATA frames, under HTTP/2
//! flow control, and ends the stream (END_STREAM) after the closing
//! handshake. Serve the connection with
//! `hyper::server::conn::http2::Builder::enable_connect_protocol()`, which
//! advertises `SETTINGS_ENABLE_CONNECT_PROTOCOL` (without it, hyper resets
//! every extended `CONNECT`), and spawn the task that awaits [`Upgrading`]
//! as over HTTP/1.1: the HTTP/2 connection keeps serving other requests and
//! WebSockets while it runs. Another `:protocol`, another WebSocket
//! version or a plain `CONNECT` is refused (400, or 426 for the version).
//! Without the feature, an HTTP/2 request is refused with 400.
//!
//! Bytes the client sent right after its request (its first frames, in
//! the same packet) were read by hyper; they are in hyper's `Upgraded`,
//! which hands them out first, so the connection receives them.
//!
//! ```no_run
//! use std::convert::Infallible;
//!
//! use http_body_util::Full;
//! use hyper::body::{Bytes, Incoming};
//! use hyper::{Request, Response};
//! use wsproto_tokio::Config;
//!
//! async fn serve(mut request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
//!     let (response, upgrading) =
//!         match wsproto_tokio::hyper::upgrade(&mut request, &Config::default()) {
//!             Ok(upgrade) => upgrade,
//!             // Not an upgrade, or not a valid one: 400, 426, ...
//!             Err(refusal) => return Ok(refusal.into_http()),
//!         };
//!     tokio::spawn(async move {
//!         let Ok(mut ws) = upgrading.await else { return };
//!         while let Some(Ok(message)) = ws.recv().await {
//!             if message.is_data() && ws.send(message).await.is_err() {
//!                 break;
//!             }
//!         }
//!     });
//!     Ok(response)
//! }
//!
//! # async fn run() -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! loop {
//!     let (stream, _) = listener.accept().await?;
//!     tokio::spawn(
//!         hyper::server::conn::http1::Builder::new()
//!             .serve_connection(
//!                 hyper_util::rt::TokioIo::new(stream),
//!                 hyper::service::service_fn(serve),
//!             )
//!             .with_upgrades(),
//!     );
//! }
//! # }
//! ```

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use ::hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use wsproto::handshake::{Accept, BuildError, Request, RequestError, Response};
use wsproto::{Config, Connection};

use crate::{Error, WebSocket};

/// The transport of an upgraded hyper connection, with tokio's I/O traits.
pub type UpgradedIo = TokioIo<Upgraded>;

/// Accepts a WebSocket upgrade from hyper: any path, no subprotocol, and
/// permessage-deflate if `config` enables it and the client offers it.
///
/// Returns the `101` response for the service to return, and the future
/// of the connection; or, for a request that is not a valid upgrade, an
/// [`UpgradeError`] whose [`into_http`](UpgradeError::into_http) is the
/// answer. Takes hyper's upgrade handle out of the request's extensions.
///
/// The response's body type is yours (`Full<Bytes>`, axum's `Body`...):
/// any that converts from `Vec<u8>`. The `101` has an empty body.
pub fn upgrade<B, RB>(
    request: &mut http::Request<B>,
    config: &Config,
) -> Result<(http::Response<RB>, Upgrading), UpgradeError>
where
    RB: From<Vec<u8>>,
{
    upgrade_with(request, config, |_| Ok(Accept::new()))
}

/// As [`upgrade`], asking `choose` what to answer a valid request: an
/// [`Accept`] (a subprotocol the client offered, extensions, headers such
/// as `Set-Cookie`), or a [`Response`] that refuses it (401, 403, 404),
/// which comes back as [`UpgradeError::Refused`]. The [`Request`] has the
/// path, query, `Origin`, headers and offered subprotocols.
///
/// ```
/// use wsproto::handshake::{Accept, Response};
/// use wsproto_tokio::Config;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut request = http::Request::get("/chat")
///     .header("Host", "example.com")
///     .header("Upgrade", "websocket")
///     .header("Connection", "Upgrade")
///     .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
///     .header("Sec-WebSocket-Version", "13")
///     .header("Sec-WebSocket-Protocol", "chat.v2, chat.v1")
///     .body(())?;
/// let choose = |request: &wsproto::handshake::Request| {
///     if request.path() != "/chat" {
///         return Err(Response::new(404).expect("a valid status"));
///     }
///     let chat = request.protocols().any(|p| p == "chat.v1");
///     Ok(if chat { Accept::new().protocol("chat.v1") } else { Accept::new() })
/// };
/// // Built by hand, this request lacks hyper's upgrade handle: a valid
/// // request that the server cannot upgrade is its own error, a 500.
/// let refusal = wsproto_tokio::hyper::upgrade_with::<_, Vec<u8>, _>(
///     &mut request,
///     &Config::default(),
///     choose,
/// )
/// .unwrap_err();
/// assert_eq!(refusal.status(), http::StatusCode::INTERNAL_SERVER_ERROR);
/// # Ok(()) }
/// ```
pub fn upgrade_with<B, RB, F>(
    request: &mut http::Request<B>,
    config: &Config,
    choose: F,
) -> Result<(http::Response<RB>, Upgrading), UpgradeError>
where
    RB: From<Vec<u8>>,
    F: FnOnce(&Request) -> Result<Accept, Response>,
{
    let validated = validate(request)?;
    // Checked before asking the application, which then never decides on
    // a request that could not be upgraded anyway.
    if request.extensions().get::<OnUpgrade>().is_none() {
        return Err(UpgradeError::NotUpgradable);
    }
    let accept = choose(&validated).map_err(UpgradeError::Refused)?;
    let on_upgrade = request
        .extensions_mut()
        .remove::<OnUpgrade>()
        .ok_or(UpgradeError::NotUpgradable)?;
    accept_upgrade(validated, &accept, config, on_upgrade)
}

/// Checks the request with the core: an HTTP/1.1 upgrade or, with the
/// `h2` feature, an HTTP/2 extended `CONNECT` (its `:protocol` is in the
/// extensions, where hyper keeps it). Shared with the axum extractor.
pub(crate) fn validate<B>(request: &http::Request<B>) -> Result<Request, RequestError> {
    #[cfg(feature = "h2")]
    if request.version() == http::Version::HTTP_2 {
        // No `:protocol` (a plain `CONNECT`, or any other method) is not
        // a WebSocket request; the core says which check fails first.
        let protocol = request
            .extensions()
            .get::<::hyper::ext::Protocol>()
            .map_or("", ::hyper::ext::Protocol::as_str);
        return Request::from_http_extended_connect(request, protocol);
    }
    Request::from_http(request)
}

/// Negotiates permessage-deflate by `config`, builds the `101` (`200`
/// over HTTP/2) for `accept`, and pairs the connection with hyper's upgrade handle. Shared
/// with the axum extractor.
pub(crate) fn accept_upgrade<RB>(
    #[allow(unused_mut)] // without the deflate feature
    mut request: Request,
    accept: &Accept,
    config: &Config,
    on_upgrade: OnUpgrade,
) -> Result<(http::Response<RB>, Upgrading), UpgradeError>
where
    RB: From<Vec<u8>>,
{
    #[cfg(feature = "deflate")]
    request.negotiate_deflate(&config.deflate);
    let response = request.accept(accept)?;
    let upgrading = Upgrading {
        on_upgrade,
        connection: Some(request.into_connection(config.clone())),
    };
    Ok((to_http(&response), upgrading))
}

/// The core's response as an `http::Response` with its body.
fn to_http<RB: From<Vec<u8>>>(response: &Response) -> http::Response<RB> {
    response
        .to_http()
        .map(|()| RB::from(response.body_bytes().to_vec()))
}

/// The future of an accepted upgrade: resolves to the [`WebSocket`] once
/// hyper has written the `101` and handed the connection over, or to
/// [`Error::Io`] (with hyper's error inside) if that never happens: the
/// client went away first, or the connection is not served
/// `with_upgrades()`.
///
/// Await it in a task of its own: the response that leads to it has to be
/// returned from the service first.
pub struct Upgrading {
    on_upgrade: OnUpgrade,
    /// Taken when the future resolves.
    connection: Option<Connection>,
}

impl Future for Upgrading {
    type Output = Result<WebSocket<UpgradedIo>, Error>;

    /// Once it has resolved, polling again gives [`Error::Closed`].
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if this.connection.is_none() {
            return Poll::Ready(Err(Error::Closed));
        }
        let upgraded = ready!(Pin::new(&mut this.on_upgrade).poll(cx));
        let connection = this.connection.take().ok_or(Error::Closed)?;
        let upgraded = upgraded.map_err(|error| Error::Io(io::Error::other(error)))?;
        // hyper's `Upgraded` starts with the bytes it read past the request.
        Poll::Ready(Ok(WebSocket::from_connection(
            TokioIo::new(upgraded),
            connection,
        )))
    }
}

impl fmt::Debug for Upgrading {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upgrading")
            .field("resolved", &self.connection.is_none())
            .finish_non_exhaustive()
    }
}

/// Why an upgrade request is not accepted, and the answer to give:
/// [`into_http`](Self::into_http) (or, with the `axum` feature, axum's
/// `IntoResponse`).
#[derive(Debug)]
#[non_exhaustive]
pub enum UpgradeError {
    /// Not a valid WebSocket upgrade: answered with the core's status for
    /// it ([`RequestError::status`]: 400, or 426 with
    /// `Sec-WebSocket-Version: 13` for a version other than 13) and a
    /// plain-text reason.
    Request(RequestError),
    /// The application refused the upgrade with this response.
    Refused(Response),
    /// The application's [`Accept`] names a subprotocol or extension the
    /// client did not offer, or a header it may not set: the server's bug,
    /// answered with 500.
    Build(BuildError),
    /// A valid upgrade that carries no hyper upgrade handle: the request
    /// did not come from a hyper HTTP/1.1 connection, or something took
    /// the handle first. Answered with 500.
    NotUpgradable,
}

impl UpgradeError {
    /// The HTTP status of the answer.
    pub fn status(&self) -> http::StatusCode {
        http::StatusCode::from_u16(self.response().status())
            .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The answer as the core's [`Response`]: status, headers, body.
    pub fn response(&self) -> Response {
        match self {
            UpgradeError::Request(error) => error.response(),
            UpgradeError::Refused(response) => response.clone(),
            UpgradeError::Build(_) | UpgradeError::NotUpgradable => Response::internal_error(),
        }
    }

    /// The answer as an `http::Response` with its body, for the service to
    /// return. It says `Connection: close`: the client may already have
    /// sent WebSocket frames after its request, which are no HTTP.
    pub fn into_http<RB: From<Vec<u8>>>(self) -> http::Response<RB> {
        let mut response = to_http(&self.response());
        response.headers_mut().insert(
            http::header::CONNECTION,
            http::HeaderValue::from_static("close"),
        );
        response
    }
}

impl fmt::Display for UpgradeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UpgradeError::Request(error) => write!(f, "bad upgrade request: {error}"),
            UpgradeError::Refused(response) => {
                write!(f, "upgrade refused with {}", response.status())
            }
            UpgradeError::Build(error) => write!(f, "cannot build the 101 response: {error}"),
            UpgradeError::NotUpgradable => {
                f.write_str("the request carries no hyper upgrade to take the connection over")
            }
        }
    }
}

impl std::error::Error for UpgradeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            UpgradeError::Request(error) => Some(error),
            UpgradeError::Build(error) => Some(error),
            UpgradeError::Refused(_) | UpgradeError::NotUpgradable => None,
        }
    }
}

impl From<RequestError> for UpgradeError {
    fn from(error: RequestError) -> Self {
        UpgradeError::Request(error)
    }
}

impl From<BuildError> for UpgradeError {
    fn from(error: BuildError) -> Self {
        UpgradeError::Build(error)
    }
}
