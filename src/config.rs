//! Connection settings and limits.

use core::time::Duration;

/// The roles of RFC 6455: they differ in masking (clients mask every frame,
/// servers never do) and in who closes the transport first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// The endpoint that accepted the connection; receives masked frames.
    Server,
    /// The endpoint that opened the connection; sends masked frames.
    Client,
}

/// Limits and behaviour of a [`Connection`](crate::Connection).
///
/// Every limit is checked from a frame header, before any memory is reserved
/// for its payload: a header announcing 2^62 bytes costs nothing.
///
/// ```
/// let mut config = wsproto::Config::default();
/// config.max_message_len = 1 << 20;
/// assert_eq!(config.max_frame_len, 16 << 20);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// The largest payload a single received data frame may announce.
    /// Larger frames close the connection with 1009.
    ///
    /// Default 16 MiB, as tungstenite: large enough for every frame of the
    /// Autobahn suite and for browsers, which rarely send frames over 1 MiB.
    pub max_frame_len: u64,
    /// The largest total payload of a received message (all its fragments).
    /// Larger messages close the connection with 1009. At the message level
    /// it also bounds the memory a message can take; at the streaming level,
    /// raise it freely (`u64::MAX` disables it), nothing is buffered.
    ///
    /// A compressed message (permessage-deflate) is held to it twice: its
    /// size on the wire, checked from the frame headers, and its inflated
    /// size, checked as it inflates, so a decompression bomb stops at the
    /// limit.
    ///
    /// Default 64 MiB, as tungstenite: four maximal frames.
    pub max_message_len: u64,
    /// Whether a received ping queues a pong with the same payload
    /// automatically. Default `true`; turn it off to answer (or not) with
    /// [`Connection::send_pong`](crate::Connection::send_pong) yourself.
    pub auto_pong: bool,
    /// The largest opening-handshake head (request or response line plus
    /// header fields) a [`ServerHandshake`](crate::handshake::ServerHandshake)
    /// or [`ClientHandshake`](crate::handshake::ClientHandshake) will hold.
    /// A longer head is refused with 431 as soon as the limit is reached.
    ///
    /// Default 16 KiB: browsers send under 2 KiB, and 16 KiB is below the
    /// 64 KiB `max_buf_size` hyper uses for whole heads while leaving room
    /// for large cookies.
    pub max_handshake_len: usize,
    /// The most header fields a handshake head may have; more is refused
    /// with 431.
    ///
    /// Default 64: a browser sends about 15, and 64 is the count tungstenite
    /// and many HTTP servers allow (hyper: 100).
    pub max_headers: usize,
    /// The high-water mark of the outgoing buffer, in bytes: while
    /// [`Connection::buffered_amount`](crate::Connection::buffered_amount)
    /// is above it, data messages, fragments, pings and pongs the
    /// application sends are refused with
    /// [`SendError::WouldBlock`](crate::SendError::WouldBlock), and
    /// [`Connection::wants_read`](crate::Connection::wants_read) tells the
    /// driver to stop reading. A send is judged before it is queued, so the
    /// buffer holds at most the mark plus one message; automatic pongs
    /// (coalesced), keepalive pings and the close frame are never refused.
    ///
    /// Default 16 MiB, the default [`max_frame_len`](Self::max_frame_len):
    /// a driver that writes out after every call never reaches it, and a
    /// peer that stops reading costs at most that much.
    pub send_high_water: usize,
    /// How long to wait for the closing handshake to finish once it has
    /// started (our close frame queued, or the peer's received): when it
    /// runs out, the connection fails with
    /// [`ConnectionError::CloseTimeout`](crate::ConnectionError::CloseTimeout),
    /// drops what it had not written, and tells the driver to close the
    /// transport ([`State::Closed`](crate::State::Closed)). `None`, or
    /// 2^32 ms (about 49.7 days) and more, waits for ever; it is kept in
    /// whole milliseconds, rounded up. Timers run only when the driver calls
    /// [`Connection::handle_timeout`](crate::Connection::handle_timeout).
    ///
    /// Default 10 s, as the Python `websockets` library: a live peer answers
    /// a close within one round trip, a dead one would otherwise hold the
    /// connection until the operating system gives up on it.
    pub close_timeout: Option<Duration>,
    /// Keepalive: after this long without a byte from the peer, send a ping;
    /// then wait [`keepalive_timeout`](Self::keepalive_timeout) for an
    /// answer before failing the connection with
    /// [`ConnectionError::KeepaliveTimeout`](crate::ConnectionError::KeepaliveTimeout)
    /// (a 1006 outcome: nothing is sent, the transport is to be dropped).
    ///
    /// Default `None` (off): whether a quiet peer is a dead one depends on
    /// the application. Browsers answer pings on their own; 20-30 s keeps
    /// NAT and proxy idle timers from dropping a quiet connection.
    pub keepalive_interval: Option<Duration>,
    /// How long a keepalive ping waits for the peer. A pong meets it, and
    /// so does any byte received after the ping: a peer in the middle of
    /// sending a long frame cannot answer before the frame ends.
    ///
    /// Default 20 s, as the Python `websockets` library.
    pub keepalive_timeout: Duration,
    /// How long the opening handshake may take, from the first
    /// `handle_timeout` call on a
    /// [`ServerHandshake`](crate::handshake::ServerHandshake) or
    /// [`ClientHandshake`](crate::handshake::ClientHandshake) to a complete
    /// request or response. `None` waits for ever.
    ///
    /// Default 10 s: a browser sends its request at once, and a peer that
    /// trickles a head in (slowloris) should not hold a connection longer.
    pub handshake_timeout: Option<Duration>,
    /// permessage-deflate (RFC 7692): whether to negotiate it and how to
    /// compress. Off by default; see [`DeflateConfig`](crate::DeflateConfig).
    #[cfg(feature = "deflate")]
    pub deflate: crate::DeflateConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_frame_len: 16 << 20,
            max_message_len: 64 << 20,
            auto_pong: true,
            max_handshake_len: 16 << 10,
            max_headers: 64,
            send_high_water: 16 << 20,
            close_timeout: Some(Duration::from_secs(10)),
            keepalive_interval: None,
            keepalive_timeout: Duration::from_secs(20),
            handshake_timeout: Some(Duration::from_secs(10)),
            #[cfg(feature = "deflate")]
            deflate: crate::DeflateConfig::default(),
        }
    }
}
