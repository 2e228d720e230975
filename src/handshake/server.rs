//! The server's reader of the opening handshake (RFC 6455 section 4.2):
//! collects the upgrade request's head from bytes in chunks of any size,
//! parses it, and hands out the validated [`Request`] (`request.rs`),
//! which the application then accepts or refuses.

use super::error::RequestError;
use super::head::{HeadProgress, HeadReader, field_slots};
use super::headers::Headers;
use super::request::{HttpVersion, Request};
use super::timer::{Expired, HandshakeTimer};
use crate::Config;
use core::time::Duration;
#[cfg(feature = "std")]
use std::time::Instant;

/// Reads an upgrade request from bytes in chunks of any size.
///
/// Feed it with [`recv`](Self::recv) until it returns the [`Request`];
/// look at the request (path, `Origin`, cookies, offered subprotocols),
/// then [`accept`](Request::accept) it and start the connection with
/// [`into_connection`](Request::into_connection), or refuse it with a
/// [`Response`](super::Response) of your own. A malformed request is a
/// [`RequestError`] whose [`response`](RequestError::response) is the
/// 400, 426 or 431 to write back; a request that does not arrive within
/// [`Config::handshake_timeout`] is a 408 from
/// [`handle_timeout`](Self::handle_timeout).
///
/// ```
/// use wsproto::handshake::{Accept, ServerHandshake};
/// use wsproto::{Config, Event};
///
/// let config = Config::default();
/// let mut handshake = ServerHandshake::new(&config);
/// let input = b"GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\
///     Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
///     Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chat.v2, chat.v1\r\n\r\n";
///
/// // Bytes may come in pieces; `None` means "need more".
/// assert!(handshake.recv(&input[..20])?.is_none());
/// let request = handshake.recv(&input[20..])?.expect("the head is complete");
/// assert_eq!(request.path(), "/chat");
///
/// if request.protocols().any(|p| p == "chat.v1") {
///     let response = request.accept(&Accept::new().protocol("chat.v1"))?;
///     assert!(response.to_bytes().starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"));
///     let mut connection = request.into_connection(config);
///     // ... write `response`, then drive `connection`.
///     assert_eq!(connection.poll_event()?, None);
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct ServerHandshake {
    reader: HeadReader,
    max_headers: usize,
    #[cfg(feature = "deflate")]
    deflate: crate::DeflateConfig,
    timer: HandshakeTimer,
    state: Progress,
}

#[derive(Debug)]
enum Progress {
    Reading,
    Complete,
    Failed(RequestError),
}

impl ServerHandshake {
    /// A handshake that enforces `config`'s
    /// [`max_handshake_len`](Config::max_handshake_len),
    /// [`max_headers`](Config::max_headers) and
    /// [`handshake_timeout`](Config::handshake_timeout) (the last only when
    /// the driver calls [`handle_timeout`](Self::handle_timeout)), and
    /// negotiates permessage-deflate by its `deflate` policy (with the
    /// `deflate` feature).
    pub fn new(config: &Config) -> Self {
        ServerHandshake {
            reader: HeadReader::new(config.max_handshake_len),
            max_headers: config.max_headers,
            #[cfg(feature = "deflate")]
            deflate: config.deflate.clone(),
            timer: HandshakeTimer::new(config.handshake_timeout),
            state: Progress::Reading,
        }
    }

    /// Tells the handshake the time; no clock is read inside this crate.
    ///
    /// The first call starts the clock: while the request is still being
    /// read and [`Config::handshake_timeout`] is set, the deadline becomes
    /// `now` plus the timeout. A call at or after the deadline, with the head
    /// still incomplete, fails the handshake with [`RequestError::Timeout`]:
    /// write its [`response`](RequestError::response) (a 408) and close the
    /// transport. Like every handshake error it is sticky: later
    /// [`recv`](Self::recv) and `handle_timeout` calls return it again.
    ///
    /// Otherwise returns the deadline to wake up at: `None` when no timeout
    /// is configured, and once the request is complete.
    ///
    /// The driver pattern: call `handle_timeout(Instant::now())` once the
    /// connection is accepted, to start the clock, and again every time the
    /// driver wakes up (bytes readable, or the timer fired), after feeding
    /// what it read to [`recv`](Self::recv); then sleep until the returned
    /// deadline or until the transport is readable, whichever comes first.
    /// [`poll_timeout`](Self::poll_timeout) gives the same deadline without
    /// changing anything.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use wsproto::handshake::{RequestError, ServerHandshake};
    ///
    /// let mut handshake = ServerHandshake::new(&wsproto::Config::default()); // 10 s
    /// let start = Instant::now(); // simulated: any instant will do
    /// let deadline = handshake.handle_timeout(start)?;
    /// assert_eq!(deadline, Some(start + Duration::from_secs(10)));
    /// assert!(handshake.recv(b"GET / HTTP/1.1\r\nHost: a\r\n")?.is_none());
    ///
    /// // The rest of the head never comes.
    /// let error = handshake
    ///     .handle_timeout(start + Duration::from_secs(11))
    ///     .unwrap_err();
    /// assert_eq!(error, RequestError::Timeout);
    /// assert!(error.response().to_bytes().starts_with(b"HTTP/1.1 408 Request Timeout\r\n"));
    /// // Sticky: the handshake is over.
    /// assert_eq!(handshake.recv(b"\r\n"), Err(RequestError::Timeout));
    /// # Ok::<(), RequestError>(())
    /// ```
    #[cfg(feature = "std")]
    pub fn handle_timeout(&mut self, now: Instant) -> Result<Option<Instant>, RequestError> {
        let at = self.timer.clock.offset(now);
        let next = self.handle_timeout_at(at)?;
        Ok(next.and_then(|next| self.timer.clock.instant(next)))
    }

    /// [`handle_timeout`](Self::handle_timeout) on a clock without
    /// `Instant` (`no_std`): `now` and the deadline are offsets from an
    /// origin of the driver's choosing on a monotonic clock.
    pub fn handle_timeout_at(&mut self, now: Duration) -> Result<Option<Duration>, RequestError> {
        match self.state {
            Progress::Reading => {}
            Progress::Complete => return Ok(None),
            Progress::Failed(error) => return Err(error),
        }
        self.timer.handle(now).map_err(|Expired| {
            self.state = Progress::Failed(RequestError::Timeout);
            RequestError::Timeout
        })
    }

    /// The deadline [`handle_timeout`](Self::handle_timeout) armed, while
    /// the request is still being read: when to call it next. `None` before
    /// the first call, without a configured timeout, and once the handshake
    /// has completed or failed.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use wsproto::handshake::ServerHandshake;
    ///
    /// let mut handshake = ServerHandshake::new(&wsproto::Config::default());
    /// assert_eq!(handshake.poll_timeout(), None); // not started
    /// let start = Instant::now();
    /// handshake.handle_timeout(start)?;
    /// assert_eq!(handshake.poll_timeout(), Some(start + Duration::from_secs(10)));
    /// # Ok::<(), wsproto::handshake::RequestError>(())
    /// ```
    #[cfg(feature = "std")]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timer.clock.instant(self.poll_timeout_at()?)
    }

    /// [`poll_timeout`](Self::poll_timeout) as an offset on the driver's
    /// clock, for [`handle_timeout_at`](Self::handle_timeout_at).
    pub fn poll_timeout_at(&self) -> Option<Duration> {
        match self.state {
            Progress::Reading => self.timer.deadline(),
            Progress::Complete | Progress::Failed(_) => None,
        }
    }

    /// Feeds bytes read from the transport. Returns `Ok(None)` while the
    /// head is incomplete (every byte was taken), and the request once it
    /// is complete; bytes after the head travel in the request (see
    /// [`Request::leftover`]) and reach the connection, never lost.
    ///
    /// Never holds more than `max_handshake_len` bytes: a head that does not
    /// end within the limit fails with 431 as soon as the limit is reached.
    pub fn recv(&mut self, input: &[u8]) -> Result<Option<Request>, RequestError> {
        match self.state {
            Progress::Reading => {}
            Progress::Complete => return Err(RequestError::AlreadyComplete),
            Progress::Failed(error) => return Err(error),
        }
        let result = match self.reader.push(input) {
            HeadProgress::Partial => return Ok(None),
            HeadProgress::TooLarge => Err(RequestError::HeadTooLarge {
                max: self.reader.max_len(),
            }),
            HeadProgress::Complete { consumed } => parse_head(self.reader.head(), self.max_headers)
                .map(|mut request| {
                    request.set_leftover(input[consumed..].to_vec());
                    #[cfg(feature = "deflate")]
                    request.negotiate_deflate(&self.deflate);
                    request
                }),
        };
        self.state = match &result {
            Ok(_) => Progress::Complete,
            Err(error) => Progress::Failed(*error),
        };
        result.map(Some)
    }

    /// Not part of the stable API: bytes this handshake has copied, searched
    /// and parsed, read by the linear-work tests (`tests/heap/linear_work.rs`).
    #[doc(hidden)]
    #[cfg(feature = "test-meter")]
    pub fn bytes_examined(&self) -> u64 {
        self.reader.examined()
    }
}

/// Parses and validates a complete request head.
fn parse_head(head: &[u8], max_headers: usize) -> Result<Request, RequestError> {
    let mut fields = field_slots(head, max_headers);
    let mut parsed = httparse::Request::new(&mut fields);
    match parsed.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(RequestError::Malformed),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(RequestError::TooManyHeaders { max: max_headers });
        }
        Err(_) => return Err(RequestError::Malformed),
    }
    let (Some(method), Some(target), Some(minor)) = (parsed.method, parsed.path, parsed.version)
    else {
        return Err(RequestError::Malformed);
    };
    let headers: Headers = parsed
        .headers
        .iter()
        .map(|field| (field.name, field.value))
        .collect();
    let version = if minor == 0 {
        HttpVersion::Http10
    } else {
        HttpVersion::Http11
    };
    Request::from_parts(method, target, version, headers)
}
