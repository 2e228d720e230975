//! permessage-deflate ([RFC 7692]): messages compressed with DEFLATE, the
//! LZ77 window optionally carried from one message to the next.
//!
//! Turn it on with [`DeflateConfig::enabled`] in
//! [`Config::deflate`](crate::Config::deflate); the handshakes then
//! negotiate it for you:
//!
//! - a [`ClientHandshake`](crate::handshake::ClientHandshake) offers it and
//!   checks the server's answer against the offer;
//! - a [`ServerHandshake`](crate::handshake::ServerHandshake) picks the
//!   first of the client's offers the configuration can honour (see
//!   [`Request::deflate`](crate::handshake::Request::deflate)), and
//!   [`Request::accept`](crate::handshake::Request::accept) answers it;
//! - the [`Connection`](crate::Connection) then compresses what it sends
//!   (messages of [`DeflateConfig::min_compress_len`] bytes or more) and
//!   inflates what it receives, with
//!   [`Config::max_message_len`](crate::Config::max_message_len) checked
//!   against the inflated size as it grows.
//!
//! ```
//! use wsproto::handshake::{Accept, ClientHandshake, ClientRequest, ServerHandshake};
//! use wsproto::{Config, Event};
//!
//! let mut config = Config::default();
//! config.deflate.enabled = true;
//!
//! let mut client = ClientHandshake::new(&ClientRequest::new("ws://example.com/")?, config.clone())?;
//! let mut server = ServerHandshake::new(&config);
//! let request = server.recv(client.request_bytes())?.expect("whole request");
//! assert!(request.deflate().is_some());
//! let response = request.accept(&Accept::new())?;
//! assert_eq!(
//!     response.headers().get_str("Sec-WebSocket-Extensions"),
//!     Some("permessage-deflate"),
//! );
//! let mut server = request.into_connection(config);
//! let mut client = client.recv(&response.to_bytes())?.expect("whole response").into_connection();
//!
//! let text = "a message that repeats itself, a message that repeats itself";
//! client.send_text(text)?;
//! let mut wire = Vec::new();
//! client.poll_transmit(&mut wire);
//! assert!(wire.len() < text.len()); // header and mask included
//! server.recv(&wire);
//! assert_eq!(server.poll_event()?, Some(Event::Text(text.into())));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Memory
//!
//! Each direction's zlib state is allocated when the first compressed
//! message is sent or received. With context takeover it is kept for the
//! life of the connection; without it (our `no_context_takeover`, or the
//! peer's) it is freed after every message, so an idle connection holds
//! nothing. Measured with the zlib-rs backend by `tests/heap/deflate_memory.rs`:
//!
//! | window bits | compressor | decompressor |
//! | --- | --- | --- |
//! | 15 (default) | 373 KiB | 46 KiB |
//! | 12 | 261 KiB | 46 KiB |
//! | 10 | 249 KiB | 46 KiB |
//! | 8 or 9 | 247 KiB | 46 KiB |
//!
//! The compressor's hash table (128 KiB) and symbol buffer (64 KiB) do not
//! shrink with the window, and zlib-rs's decompressor always allocates a
//! 32 KiB window. The knobs, from most to least effective:
//! [`DeflateConfig::no_context_takeover`] and
//! [`DeflateConfig::peer_no_context_takeover`] (nothing held between
//! messages, at the cost of compression across messages and an allocation
//! per message), [`DeflateConfig::min_compress_len`] set to `usize::MAX`
//! (the compressor is never allocated; compressed input is still
//! accepted), and [`DeflateConfig::max_window_bits`] (up to 126 KiB less).
//! Without context takeover, a [`DeflatePool`] shared by the connections
//! (in [`DeflateConfig::pool`]) saves the allocation per message: each
//! message borrows a compressor or decompressor made for an earlier one,
//! and the process holds about as many as messages are compressed at
//! once, however many connections are open.
//! Receiving also keeps up to 16 KiB of compressed input, and the streaming
//! level a 16 KiB output buffer. A message being inflated at the message
//! level never grows past [`Config::max_message_len`](crate::Config::max_message_len)
//! plus one byte.
//!
//! ## Window bits 8
//!
//! zlib cannot make raw DEFLATE streams with a 256-byte window. When 8 is
//! negotiated for our side, we compress with a 512-byte window, whose
//! matches zlib limits to 512 - 262 = 250 bytes back: every stream is
//! valid for a 256-byte window.
//!
//! We inflate with a 15-bit window whatever the peer's window bits: it
//! decodes every smaller window, costs nothing more (zlib-rs allocates
//! 32 KiB either way), and makes the outcome independent of how the input
//! was split (zlib checks a distance against its window only when it
//! reaches back past the current output buffer). A peer that reaches back
//! further than it promised is therefore not refused; one that reaches
//! back before the start of its stream is.
//!
//! [RFC 7692]: https://www.rfc-editor.org/rfc/rfc7692

mod codec;
mod inbound;
mod pool;

pub(crate) use codec::{Deflater, Inflated, Inflater};
pub(crate) use inbound::Inbound;
pub use pool::DeflatePool;

/// The extension's registered name.
pub const EXTENSION_NAME: &str = "permessage-deflate";

/// What this endpoint is willing to negotiate, and how it compresses.
/// Part of [`Config`](crate::Config).
///
/// "Own" parameters bind what we send; "peer" parameters what we receive
/// (for a server, own = `server_*` and peer = `client_*` of RFC 7692).
/// Window bits outside 8..=15 are clamped into it.
///
/// ```
/// let mut config = wsproto::Config::default();
/// config.deflate.enabled = true;
/// // Ask the peer for a 4 KiB window, to keep our decompressor small.
/// config.deflate.peer_max_window_bits = 12;
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeflateConfig {
    /// Offer permessage-deflate (client) or accept an offer of it (server).
    ///
    /// Default `false`: compression costs memory per connection (see the
    /// module docs) and mixing secrets with attacker-chosen text in one
    /// compressed message can leak them (the CRIME/BREACH family). Node's
    /// `ws` server, gorilla/websocket and tungstenite are off by default too.
    pub enabled: bool,
    /// The largest LZ77 window our compressor uses, in bits (8..=15). A
    /// peer may ask for less, never more. Default 15 (32 KiB).
    pub max_window_bits: u8,
    /// The largest window the peer may compress with, in bits (8..=15):
    /// bounds our decompressor's memory. Below 15, a server declines
    /// offers in which the client cannot promise it (no
    /// `client_max_window_bits`). Default 15.
    pub peer_max_window_bits: u8,
    /// Start every message we send with an empty window (our
    /// `*_no_context_takeover`): worse compression, but no dependency
    /// between messages. Granted whenever the peer asks for it, too.
    /// Default `false`.
    pub no_context_takeover: bool,
    /// Ask the peer to start every message with an empty window. Default
    /// `false`.
    pub peer_no_context_takeover: bool,
    /// zlib compression level, 0 (stored) to 9 (smallest); higher values
    /// are clamped. Default 6, zlib's own default.
    pub level: u8,
    /// Messages shorter than this are sent uncompressed (RSV1 clear), which
    /// leaves both LZ77 windows as they were. Fragmented messages are always
    /// compressed. Default 32: below that, a block's few bytes of framing
    /// eat most of the gain. `usize::MAX` never compresses.
    pub min_compress_len: usize,
    /// Where connections borrow their compressor and decompressor from,
    /// and give them back to, instead of allocating them for every
    /// message without context takeover (see [`DeflatePool`]). Share one
    /// among all the connections of a process. Default `None`: each
    /// connection allocates its own.
    pub pool: Option<DeflatePool>,
}

impl Default for DeflateConfig {
    fn default() -> Self {
        DeflateConfig {
            enabled: false,
            max_window_bits: 15,
            peer_max_window_bits: 15,
            no_context_takeover: false,
            peer_no_context_takeover: false,
            level: 6,
            min_compress_len: 32,
            pool: None,
        }
    }
}

impl DeflateConfig {
    pub(crate) fn own_bits(&self) -> u8 {
        self.max_window_bits.clamp(MIN_WINDOW_BITS, MAX_WINDOW_BITS)
    }

    pub(crate) fn peer_bits(&self) -> u8 {
        self.peer_max_window_bits
            .clamp(MIN_WINDOW_BITS, MAX_WINDOW_BITS)
    }
}

pub(crate) const MIN_WINDOW_BITS: u8 = 8;
pub(crate) const MAX_WINDOW_BITS: u8 = 15;

/// The parameters both endpoints agreed on for one connection.
///
/// ```
/// use wsproto::handshake::{Headers, HttpVersion, Request};
///
/// let headers: Headers = [
///     ("host", "example.com"),
///     ("upgrade", "websocket"),
///     ("connection", "Upgrade"),
///     ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
///     ("sec-websocket-version", "13"),
///     ("sec-websocket-extensions", "permessage-deflate; server_max_window_bits=10"),
/// ]
/// .into_iter()
/// .collect();
/// let mut request = Request::from_parts("GET", "/", HttpVersion::Http11, headers)?;
/// let mut config = wsproto::DeflateConfig::default();
/// config.enabled = true;
/// let params = request.negotiate_deflate(&config).expect("acceptable offer");
/// assert_eq!(params.own_max_window_bits(), 10);
/// assert_eq!(params.peer_max_window_bits(), 15);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DeflateParams {
    own_max_window_bits: u8,
    peer_max_window_bits: u8,
    own_no_context_takeover: bool,
    peer_no_context_takeover: bool,
}

impl DeflateParams {
    /// Parameters agreed on by a handshake done elsewhere, for
    /// [`Connection::with_deflate`](crate::Connection::with_deflate);
    /// `None` unless both window sizes are within 8..=15.
    pub fn new(
        own_max_window_bits: u8,
        peer_max_window_bits: u8,
        own_no_context_takeover: bool,
        peer_no_context_takeover: bool,
    ) -> Option<Self> {
        let valid = MIN_WINDOW_BITS..=MAX_WINDOW_BITS;
        (valid.contains(&own_max_window_bits) && valid.contains(&peer_max_window_bits)).then_some(
            DeflateParams {
                own_max_window_bits,
                peer_max_window_bits,
                own_no_context_takeover,
                peer_no_context_takeover,
            },
        )
    }

    /// The same agreement seen from the other endpoint (own and peer
    /// swapped).
    pub fn mirrored(&self) -> Self {
        DeflateParams {
            own_max_window_bits: self.peer_max_window_bits,
            peer_max_window_bits: self.own_max_window_bits,
            own_no_context_takeover: self.peer_no_context_takeover,
            peer_no_context_takeover: self.own_no_context_takeover,
        }
    }

    /// The largest window our compressor may use, in bits (8..=15).
    pub fn own_max_window_bits(&self) -> u8 {
        self.own_max_window_bits
    }

    /// The largest window the peer compresses with, in bits (8..=15).
    pub fn peer_max_window_bits(&self) -> u8 {
        self.peer_max_window_bits
    }

    /// Whether we reset our compressor after every message.
    pub fn own_no_context_takeover(&self) -> bool {
        self.own_no_context_takeover
    }

    /// Whether the peer resets its compressor after every message.
    pub fn peer_no_context_takeover(&self) -> bool {
        self.peer_no_context_takeover
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::DeflateParams;

    /// Parameters for the unit tests, window bits known to be valid.
    pub(crate) fn params(own: u8, peer: u8, own_nct: bool, peer_nct: bool) -> DeflateParams {
        DeflateParams::new(own, peer, own_nct, peer_nct).expect("valid window bits")
    }
}
