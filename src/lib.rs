//! # wsproto
//!
//! The WebSocket protocol ([RFC 6455]) as a sans-IO state machine: bytes in,
//! events and bytes out. Nothing here touches a socket, a clock, a thread or
//! global state, so any runtime can drive it: blocking `std::net`, tokio,
//! mio, or a connection handed over from an existing HTTP server.
//!
//! The [`handshake`] module does the opening handshake in both roles: a
//! server reads the upgrade request with
//! [`ServerHandshake`](handshake::ServerHandshake) and accepts or refuses it;
//! a client writes its request and checks the answer with
//! [`ClientHandshake`](handshake::ClientHandshake); a server that already
//! parsed the request (hyper, axum, HTTP/2) validates it from its parts.
//! Either way you get a [`Connection`], holding any bytes that followed the
//! handshake, which come first at whichever receive level you drive.
//!
//! A [`Connection`] runs after the opening handshake, in a [`Role`]:
//!
//! - **Receive**, at a level chosen once, as a type: whole messages you own
//!   from [`Connection::poll_event_from`] on your read buffer (a message
//!   sent in one frame is split off it, no copy), or from
//!   [`Connection::recv`] (chunks of any size, split anywhere, copied in) and
//!   [`Connection::poll_event`]; or, after
//!   [`into_streaming`](Connection::into_streaming), payload streamed as it
//!   arrives, unmasked in your own buffer, with
//!   [`Connection::recv_in_place`]. Tell it about end of stream with
//!   [`Connection::recv_eof`].
//! - **Send**: [`Connection::send_text`], [`send_binary`](Connection::send_binary),
//!   [`send_fragment`](Connection::send_fragment), [`send_ping`](Connection::send_ping),
//!   [`close`](Connection::close) queue frames.
//! - **Transmit**: after every call, write out [`Connection::poll_transmit`]
//!   (or [`pending_transmit`](Connection::pending_transmit) +
//!   [`advance_transmit`](Connection::advance_transmit)). Pongs and the close
//!   echo are queued for you. When [`Connection::state`] is
//!   [`State::Closed`], close the transport.
//!
//! Runnable drivers live in the repository's `examples/`: blocking
//! `std::net`, tokio (with TLS), a single-threaded mio loop, a command-line
//! client and a browser chat; `docs/runtime-*.md` walks through each.
//!
//! permessage-deflate ([RFC 7692]) is built in (the default `deflate`
//! feature) and negotiated when `Config::deflate` turns it on: the
//! `deflate` module explains the parameters, limits and memory.
//!
//! Time and backpressure are data too: the driver passes the time to
//! [`Connection::handle_timeout`] (closing-handshake timeout, keepalive) and
//! sleeps until the deadline it returns; [`Connection::buffered_amount`],
//! [`Connection::wants_read`] and `Config::send_high_water` bound what a
//! peer that stops reading can cost (`docs/timers-backpressure.md`).
//!
//! Features: without defaults the crate is `#![no_std]` on `core` alone
//! (frames, masking, UTF-8 and the streaming [`Decoder`]); `alloc` adds
//! [`Connection`] and the handshake, `std` (default) the OS entropy source
//! and `Instant`-based timers, `deflate` (default) permessage-deflate,
//! `http` conversions. Messages are [`bytes::Bytes`] and [`Utf8Bytes`].
//!
//! The receive calls end with a [`ConnectionError`], sticky once returned:
//! peer misbehaviour is its [`Protocol`](ConnectionError::Protocol) case, a
//! [`ProtocolError`] that knows its close code (the close frame is already
//! queued when you see it); the transport's end without a close and the
//! timers' endings send nothing ([`ConnectionError::wire_close_code`] says
//! which). A send that queues nothing says why with a [`SendError`]: flow
//! control ([`WouldBlock`](SendError::WouldBlock)), the connection's end,
//! or the caller's [`Misuse`]. Limits live in [`Config`] and are checked
//! from frame headers before any memory is reserved.
//!
//! ## A drive loop
//!
//! A blocking echo loop over any `Read + Write` transport, run here against
//! an in-memory client:
//!
//! ```
//! use std::io::{Read, Write};
//! use wsproto::{CloseCode, Config, Connection, ConnectionError, Control, Event, Role, State};
//!
//! /// Echoes every message until the connection closes; returns the peer's
//! /// close code, or the protocol error that ended the connection.
//! fn echo<T: Read + Write>(conn: &mut Connection, io: &mut T) -> std::io::Result<Result<CloseCode, ConnectionError>> {
//!     let mut buf = vec![0u8; 16 * 1024];
//!     let mut out = Vec::new();
//!     let mut peer_close = None;
//!     loop {
//!         let n = io.read(&mut buf)?;
//!         if n == 0 {
//!             conn.recv_eof();
//!         } else {
//!             conn.recv(&buf[..n]);
//!         }
//!         loop {
//!             match conn.poll_event() {
//!                 Ok(Some(Event::Text(text))) => conn.send_text(&text).map_err(std::io::Error::other)?,
//!                 Ok(Some(Event::Binary(data))) => conn.send_binary(&data).map_err(std::io::Error::other)?,
//!                 Ok(Some(Event::Control(Control::Close(frame)))) => peer_close = Some(frame.code()),
//!                 Ok(Some(_ping_or_pong)) => {} // pongs are queued automatically
//!                 Ok(None) => break,
//!                 Err(error) => {
//!                     // The close frame for `error` is already queued: flush it, then stop.
//!                     conn.poll_transmit(&mut out);
//!                     io.write_all(&out)?;
//!                     return Ok(Err(error));
//!                 }
//!             }
//!         }
//!         out.clear();
//!         conn.poll_transmit(&mut out);
//!         io.write_all(&out)?;
//!         if conn.state() == State::Closed {
//!             return Ok(peer_close.ok_or(ConnectionError::UnexpectedEof));
//!         }
//!     }
//! }
//!
//! // An in-memory transport: reads come from `input`, writes go to `output`.
//! struct Pipe { input: std::io::Cursor<Vec<u8>>, output: Vec<u8> }
//! impl Read for Pipe {
//!     fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> { self.input.read(buf) }
//! }
//! impl Write for Pipe {
//!     fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> { self.output.write(buf) }
//!     fn flush(&mut self) -> std::io::Result<()> { Ok(()) }
//! }
//!
//! // The client side: two messages, then the closing handshake.
//! let mut client = Connection::new(Role::Client, Config::default());
//! client.send_text("hello")?;
//! client.send_binary(&[1, 2, 3])?;
//! client.close(std::time::Instant::now(), CloseCode::NORMAL, "done")?;
//! let mut wire = Vec::new();
//! client.poll_transmit(&mut wire);
//!
//! let mut server = Connection::new(Role::Server, Config::default());
//! let mut pipe = Pipe { input: std::io::Cursor::new(wire), output: Vec::new() };
//! assert_eq!(echo(&mut server, &mut pipe)?, Ok(CloseCode::NORMAL));
//!
//! // The client reads the echoes and the close reply.
//! client.recv(&pipe.output);
//! assert_eq!(client.poll_event()?, Some(Event::Text("hello".into())));
//! assert_eq!(client.poll_event()?, Some(Event::Binary(vec![1, 2, 3].into())));
//! assert!(matches!(client.poll_event()?, Some(Event::Control(Control::Close(frame))) if frame.code() == CloseCode::NORMAL));
//! assert_eq!(client.state(), State::Closed);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [RFC 6455]: https://www.rfc-editor.org/rfc/rfc6455
//! [RFC 7692]: https://www.rfc-editor.org/rfc/rfc7692

// `core` alone unless the `alloc` or `std` feature says otherwise; unit
// tests use std.
#![cfg_attr(not(test), no_std)]
// One module may use `unsafe` (`utf8_bytes`, where it is documented and
// checked by a `debug_assert!`); everywhere else it is refused.
#![deny(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(all(feature = "std", not(test)))]
extern crate std;

/// What std's prelude would give the modules that need `alloc`.
#[cfg(feature = "alloc")]
mod prelude {
    pub(crate) use alloc::borrow::ToOwned;
    pub(crate) use alloc::boxed::Box;
    pub(crate) use alloc::string::{String, ToString};
    pub(crate) use alloc::vec::Vec;
    pub(crate) use alloc::{format, vec};
}

#[cfg(feature = "std")]
mod clock;
mod close;
mod config;
#[cfg(feature = "alloc")]
mod connection;
mod decoder;
#[cfg(feature = "deflate")]
pub mod deflate;
mod entropy;
mod error;
mod event;
pub mod frame;
#[cfg(feature = "alloc")]
pub mod handshake;
mod meter;
mod recv;
#[cfg(feature = "alloc")]
mod send;
mod utf8;
#[cfg(feature = "alloc")]
mod utf8_bytes;

// The README's examples (the core's and the driver's) compile and run as
// doctests of `wsproto-tokio` (`RepositoryReadme` in its lib.rs), which
// can use both crates.

/// The `bytes` crate, whose `Bytes` and `BytesMut` the message level takes
/// and hands out.
#[cfg(feature = "alloc")]
pub use bytes;
pub use close::{CloseCode, CloseFrame, MAX_CLOSE_REASON_LEN};
pub use config::{Config, Role};
#[cfg(feature = "alloc")]
pub use connection::{
    BytesEvent, Connection, Initiator, Messages, Outgoing, ReceiveLevel, State, Streaming,
};
pub use decoder::Decoder;
#[cfg(feature = "deflate")]
pub use deflate::{DeflateConfig, DeflateParams, DeflatePool};
#[cfg(feature = "std")]
pub use entropy::OsEntropy;
pub use entropy::{EntropyError, EntropySource};
pub use error::{ConnectionError, Error, Misuse, ProtocolError, SendError};
#[cfg(feature = "alloc")]
pub use event::Event;
pub use event::{Control, ControlPayload, MAX_CONTROL_PAYLOAD, MessageKind, StreamEvent};
#[cfg(feature = "alloc")]
pub use utf8_bytes::Utf8Bytes;
