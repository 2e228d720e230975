//! What the echo servers share: the echo itself, the accepting answer and
//! the log line. Only the I/O differs between runtimes; that is the point of
//! a sans-IO core.

use std::sync::OnceLock;
use std::time::Duration;
use std::{fmt, io};

use wsproto::handshake::{Accept, Request, RequestError, Response};
use wsproto::{
    CloseCode, Config, Connection, ConnectionError, Control, DeflatePool, Event, SendError,
};

/// Bytes read from the transport at a time. Each read is fed and answered
/// before the next, which bounds what one read can make us queue.
pub const READ_CHUNK: usize = 64 * 1024;

/// Where the echo servers listen when no address is given.
pub const DEFAULT_ADDR: &str = "127.0.0.1:9001";

/// How long a peer may take to send its upgrade request.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a closed connection waits for the peer to close its side, so
/// that the close frame is read before the socket goes (closing a socket
/// with unread input sends a reset, which can destroy the close frame).
pub const LINGER_TIMEOUT: Duration = Duration::from_secs(2);

/// How many compressors, and as many decompressors, the pool in [`config`]
/// keeps between messages: about as many as messages are compressed or
/// inflated at once (at most 6.7 MiB with 15-bit windows). Beyond that,
/// state comes and goes with its message.
pub const DEFLATE_SPARES: usize = 16;

/// How long an echo server lets a peer stay silent before it pings it
/// (then `Config::keepalive_timeout`, 20 s, for an answer): under the idle
/// timers of common NATs and proxies.
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);

/// The configuration of every echo server: the defaults, plus
/// permessage-deflate (browsers and the Autobahn suite offer it), the
/// handshake timeout (answered 408) and a keepalive.
///
/// permessage-deflate without context takeover, either way, whatever the
/// client offers: no compressor or inflater is held between messages.
/// With takeover, each connection would hold them for its life: about
/// 340 KB with 15-bit windows, 215 KB with 9-bit ones, where a plain idle
/// connection costs under 2 KiB (`scripts/load.sh`, docs/performance.md).
/// Each message borrows them from one pool for the process, so that they
/// are not allocated and freed per message (which leaves the allocator
/// holding freed memory between the connections' buffers).
pub fn config() -> Config {
    static POOL: OnceLock<DeflatePool> = OnceLock::new();
    let mut config = Config::default();
    config.deflate.enabled = true;
    config.deflate.no_context_takeover = true;
    config.deflate.peer_no_context_takeover = true;
    config.deflate.pool = Some(
        POOL.get_or_init(|| DeflatePool::new(DEFLATE_SPARES))
            .clone(),
    );
    config.handshake_timeout = Some(HANDSHAKE_TIMEOUT);
    config.keepalive_interval = Some(KEEPALIVE_INTERVAL);
    config
}

/// The answer to a valid upgrade request: any path is accepted, no
/// subprotocol is chosen; permessage-deflate is answered if [`config`]
/// negotiated it.
pub fn accept(request: &Request) -> Response {
    // An empty `Accept` names nothing that could be invalid; a 500 keeps the
    // server honest should that ever change.
    request
        .accept(&Accept::new())
        .unwrap_or_else(|_| Response::internal_error())
}

/// Answers the events waiting in `conn`: text and binary messages go back
/// unchanged; pings are answered by the connection itself (auto pong), and
/// so is the peer's close (the echo of its code is queued).
///
/// Returns how the connection ended once it has: the peer's close, or a
/// protocol error whose close frame is now queued. `None` while it is open.
pub fn echo_events(conn: &mut Connection) -> Option<Outcome> {
    // Over the high-water mark an echo would be refused: leave the rest
    // queued until the driver has written some out (it calls again).
    while conn.wants_read() {
        let sent = match conn.poll_event() {
            // Owned in, owned out: a large message goes back by reference,
            // without a copy (a small one is copied next to its header).
            Ok(Some(Event::Text(text))) => conn.send_text_owned(text),
            Ok(Some(Event::Binary(data))) => conn.send_binary_owned(data),
            Ok(Some(Event::Control(Control::Close(frame)))) => {
                let code = (!frame.is_empty()).then(|| frame.code());
                return Some(Outcome::Closed(code));
            }
            Ok(Some(_ping_or_pong)) => Ok(()),
            Ok(None) => return None,
            Err(error) => return Some(Outcome::Failed(error)),
        };
        if let Err(error) = sent {
            return Some(Outcome::SendFailed(error));
        }
    }
    None
}

/// How a connection ended: the tail of its one log line.
#[derive(Debug)]
pub enum Outcome {
    /// The peer closed, with this code (echoed back) or none.
    Closed(Option<CloseCode>),
    /// The peer broke the protocol (we closed with the error's code), or
    /// the connection ended without a close.
    Failed(ConnectionError),
    /// The upgrade request was refused with the error's HTTP status.
    Refused(RequestError),
    /// An echo could not be queued (a server never masks, so this only
    /// happens if the connection was already closing).
    SendFailed(SendError),
    /// The peer sent nothing usable in time.
    TimedOut,
    /// The upgrade request was answered with 503: the server is full.
    // Only the blocking server has a limit that a request can meet.
    #[allow(dead_code)]
    Busy,
    /// The transport failed.
    Io(io::Error),
}

impl From<io::Error> for Outcome {
    fn from(error: io::Error) -> Self {
        if matches!(
            error.kind(),
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
        ) {
            Outcome::TimedOut
        } else {
            Outcome::Io(error)
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Closed(Some(code)) => write!(f, "closed by peer with {code}, echoed"),
            Outcome::Closed(None) => f.write_str("closed by peer without a code"),
            Outcome::Failed(ConnectionError::UnexpectedEof) => {
                f.write_str("disconnected without a close frame (1006)")
            }
            // The error's text names the close code (and whether it was sent).
            Outcome::Failed(error) => write!(f, "failed: {error}"),
            Outcome::Refused(error) => write!(f, "refused with {}: {error}", error.status()),
            Outcome::SendFailed(error) => write!(f, "echo failed: {error}"),
            Outcome::TimedOut => f.write_str("timed out"),
            Outcome::Busy => f.write_str("refused with 503: too many connections"),
            Outcome::Io(error) => write!(f, "I/O error: {error}"),
        }
    }
}
