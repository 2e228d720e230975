//! An axum 0.8 extractor for WebSocket upgrades (the `axum` feature), in
//! the manner of `axum::extract::ws`, on this crate's [`WebSocket`].
//!
//! [`WebSocketUpgrade`] checks the request with the core when it is
//! extracted (a request that is not a valid upgrade never reaches the
//! handler: it is answered with the core's status, 400 or 426); the
//! handler chooses the [`Config`] and a subprotocol, then
//! [`on_upgrade`](WebSocketUpgrade::on_upgrade) returns the `101` and runs
//! the callback with the connection in a task of its own.
//!
//! An echo server:
//!
//! ```no_run
//! use axum::{Router, response::Response, routing::get};
//! use wsproto_tokio::axum::WebSocketUpgrade;
//!
//! async fn echo(ws: WebSocketUpgrade) -> Response {
//!     ws.on_upgrade(|mut ws| async move {
//!         while let Some(Ok(message)) = ws.recv().await {
//!             if message.is_data() && ws.send(message).await.is_err() {
//!                 break;
//!             }
//!         }
//!     })
//! }
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     let app = Router::new().route("/echo", get(echo));
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//!     axum::serve(listener, app).await
//! }
//! ```

use std::fmt;
use std::future::Future;

use ::axum::extract::FromRequestParts;
use ::axum::response::{IntoResponse, Response};
use ::hyper::upgrade::OnUpgrade;
use http::request::Parts;
use wsproto::Config;
use wsproto::handshake::{Accept, Request};

/// The rejection and the upgrade future, shared with the hyper helper.
pub use crate::hyper::{UpgradeError, Upgrading};
use crate::hyper::{UpgradedIo, accept_upgrade, validate};

/// The [`WebSocket`](crate::WebSocket) an axum upgrade gives: over hyper's
/// upgraded connection.
pub type WebSocket = crate::WebSocket<UpgradedIo>;

/// Extracts a WebSocket upgrade request: a handler that takes it answers
/// with [`on_upgrade`](Self::on_upgrade).
///
/// Extraction fails with an [`UpgradeError`], which axum returns as the
/// response: 400 for a request that is not a valid upgrade (not `GET`,
/// no `Upgrade: websocket`, a bad key...), 426 with
/// `Sec-WebSocket-Version: 13` for another protocol version (without the
/// `h2` feature, an HTTP/2 extended `CONNECT` is a 400 too; with it, it is
/// accepted with a `200`: route it with `any` or `on(MethodFilter::CONNECT)`,
/// since its method is `CONNECT`, and serve HTTP/2 with
/// `enable_connect_protocol()`, see [`crate::hyper`]), and 500 for a valid
/// request without hyper's upgrade handle (taken by another extractor, or
/// a request that no hyper connection served). Take `Result<WebSocketUpgrade,
/// UpgradeError>` to serve something else to plain requests.
///
/// ```
/// use axum::response::Response;
/// use wsproto_tokio::axum::WebSocketUpgrade;
///
/// async fn chat(ws: WebSocketUpgrade) -> Response {
///     let mut config = wsproto_tokio::Config::default();
///     config.deflate.enabled = true;
///     let ws = ws.config(config).protocols(["chat.v2", "chat.v1"]);
///     let protocol = ws.selected_protocol().map(str::to_owned);
///     ws.on_upgrade(move |mut ws| async move {
///         let greeting = format!("speaking {protocol:?}");
///         let _ = ws.send(greeting.into()).await;
///     })
/// }
/// # let _: axum::Router = axum::Router::new().route("/chat", axum::routing::get(chat));
/// ```
pub struct WebSocketUpgrade {
    request: Request,
    on_upgrade: OnUpgrade,
    config: Config,
    protocol: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for WebSocketUpgrade {
    type Rejection = UpgradeError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, UpgradeError> {
        let request = validate_parts(parts)?;
        let on_upgrade = parts
            .extensions
            .remove::<OnUpgrade>()
            .ok_or(UpgradeError::NotUpgradable)?;
        Ok(WebSocketUpgrade {
            request,
            on_upgrade,
            config: Config::default(),
            protocol: None,
        })
    }
}

/// Checks the request head with the core (`crate::hyper::validate`), which
/// wants a whole `http::Request`: the parts are moved into one and back
/// (no header is copied).
fn validate_parts(parts: &mut Parts) -> Result<Request, UpgradeError> {
    let placeholder = http::Request::new(()).into_parts().0;
    let request = http::Request::from_parts(std::mem::replace(parts, placeholder), ());
    let validated = validate(&request);
    *parts = request.into_parts().0;
    Ok(validated?)
}

impl WebSocketUpgrade {
    /// The configuration of the connection: limits, timeouts, keepalive,
    /// and permessage-deflate, which is accepted when
    /// `config.deflate.enabled` and the client offers it. The default
    /// [`Config`] otherwise.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Chooses the subprotocol: the first the client offered (in its order
    /// of preference) among `protocols`. None if the client offered none of
    /// them; the handler may then go on without one, or refuse.
    pub fn protocols<I>(mut self, protocols: I) -> Self
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let supported: Vec<I::Item> = protocols.into_iter().collect();
        self.protocol = self
            .request
            .protocols()
            .find(|offered| supported.iter().any(|s| s.as_ref() == *offered))
            .map(str::to_owned);
        self
    }

    /// The subprotocols the client offered, most preferred first.
    pub fn offered_protocols(&self) -> impl Iterator<Item = &str> {
        self.request.protocols()
    }

    /// The subprotocol [`protocols`](Self::protocols) chose, which the
    /// `101` will name.
    pub fn selected_protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// The validated request: path, query, `Origin`, headers, extensions
    /// offered.
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// Accepts the upgrade: returns the `101` and, once axum's server has
    /// written it, runs `callback` with the connection in a task of its
    /// own (a `tokio::spawn`). If the client goes away before that, the
    /// callback does not run; [`into_upgrade`](Self::into_upgrade) lets you
    /// see that error.
    pub fn on_upgrade<F, Fut>(self, callback: F) -> Response
    where
        F: FnOnce(WebSocket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        match self.into_upgrade() {
            Ok((response, upgrading)) => {
                tokio::spawn(async move {
                    if let Ok(ws) = upgrading.await {
                        callback(ws).await;
                    }
                });
                response
            }
            Err(error) => error.into_response(),
        }
    }

    /// Accepts the upgrade without spawning anything: the `101` to return,
    /// and the future of the connection to await in a task of your own,
    /// after the response is returned. An error (500) only if the chosen
    /// subprotocol could not be answered, which
    /// [`protocols`](Self::protocols) rules out.
    pub fn into_upgrade(self) -> Result<(Response, Upgrading), UpgradeError> {
        let accept = match self.protocol {
            Some(protocol) => Accept::new().protocol(protocol),
            None => Accept::new(),
        };
        accept_upgrade(self.request, &accept, &self.config, self.on_upgrade)
    }
}

impl fmt::Debug for WebSocketUpgrade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocketUpgrade")
            .field("request", &self.request)
            .field("config", &self.config)
            .field("protocol", &self.protocol)
            .finish_non_exhaustive()
    }
}

/// The refusal as axum's response: the core's status, headers and
/// plain-text reason, with `Connection: close`.
impl IntoResponse for UpgradeError {
    fn into_response(self) -> Response {
        self.into_http()
    }
}
