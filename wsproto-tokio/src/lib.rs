//! WebSocket for tokio, driven by the [`wsproto`] sans-IO core.
//!
//! - [`WebSocket<IO>`] over any `AsyncRead + AsyncWrite`: async
//!   [`recv`](WebSocket::recv) / [`send`](WebSocket::send), a `Stream` and
//!   a `Sink` of [`Message`]s, cancel-safe.
//! - [`split`](WebSocket::split) into a [`ReadHalf`] and a [`WriteHalf`]
//!   for two tasks; pongs, the close echo and keepalive pings go out while
//!   the reader waits, with no help from the application and no lock held
//!   across a wait.
//! - Backpressure: `send` waits while more than
//!   [`Config::send_high_water`](wsproto::Config::send_high_water) bytes
//!   are queued; `feed` many messages, then `flush` once.
//! - Timers inside the driver, from the core's deadlines: the opening
//!   handshake's timeout, the closing handshake's, the keepalive (ping
//!   after silence, give up without an answer). No task of their own.
//! - Servers: [`accept`], or [`Acceptor::accept_with`] to look at the
//!   request (path, `Origin`, headers, subprotocols) and accept or refuse
//!   it. Clients: [`connect`] and [`ClientBuilder`] (`wss://` with the
//!   `rustls` feature), or a handshake over a stream you opened.
//! - Upgrades from hyper 1 ([`hyper::upgrade`], feature `hyper`) and an axum
//!   extractor ([`axum::WebSocketUpgrade`], feature `axum`).
//! - Messages of any size in constant memory:
//!   [`into_streaming`](WebSocket::into_streaming) hands out [`Chunk`]s as
//!   they arrive; [`send_reader`](WebSocket::send_reader) sends from an
//!   `AsyncRead`, a fragment at a time.
//! - An idle connection holds no read or send buffer; a [`MemoryBudget`]
//!   bounds what partly received messages hold across connections.
//!
//! A server that echoes:
//!
//! ```no_run
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:9001").await?;
//!     loop {
//!         let (stream, _) = listener.accept().await?;
//!         tokio::spawn(async move {
//!             let mut ws = wsproto_tokio::accept(stream).await?;
//!             while let Some(message) = ws.recv().await {
//!                 let message = message?;
//!                 if message.is_data() {
//!                     ws.send(message).await?;
//!                 }
//!             }
//!             Ok::<_, wsproto_tokio::Error>(())
//!         });
//!     }
//! }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "axum")]
pub mod axum;
mod budget;
mod client;
mod driver;
mod error;
#[cfg(feature = "hyper")]
pub mod hyper;
mod level;
mod message;
mod server;
mod spare;
mod split;
#[cfg(feature = "rustls")]
mod tls;
mod websocket;

pub use budget::MemoryBudget;
pub use client::{Accepted, ClientBuilder, ClientStream, connect};
pub use error::Error;
pub use level::{Chunk, Receive};
pub use message::Message;
pub use server::{Acceptor, accept};
pub use split::{ReadHalf, WriteHalf};
pub use websocket::WebSocket;

/// The core crate, for its configuration and handshake types.
pub use wsproto;
pub use wsproto::{CloseCode, CloseFrame, Config, MessageKind, Messages, Streaming, Utf8Bytes};

/// The repository's README: its Rust blocks compile (and the ones that
/// need no network run) as this crate's doctests (it shows the axum
/// extractor, hence the feature).
#[cfg(all(doctest, feature = "axum"))]
#[doc = include_str!("../../README.md")]
struct RepositoryReadme;

/// `docs/http2-http3.md`: its Rust blocks (a hyper server for both HTTP
/// versions, TLS with ALPN, a hyper HTTP/2 client, the `h2` crate with the
/// core) compile as this crate's doctests.
#[cfg(all(doctest, feature = "h2"))]
#[doc = include_str!("../../docs/http2-http3.md")]
struct Http2Http3Guide;
