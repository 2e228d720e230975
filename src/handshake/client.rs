//! The client side of the opening handshake (RFC 6455 section 4.1): write
//! the upgrade request a [`ClientRequest`] describes (`client_request.rs`),
//! then check the server's response and hand over the connection.

use crate::prelude::*;

use super::build_error::BuildError;
use super::client_request::ClientRequest;
#[cfg(feature = "deflate")]
use super::deflate_negotiation;
use super::error::{ResponseError, ResponseErrorKind};
use super::extension::{self, Extension};
use super::head::{HeadProgress, HeadReader, field_slots};
use super::headers::{Headers, list_elements, single_str, write_fields};
use super::key::{accept_key, encode_key};
use super::response::Response;
use super::timer::{Expired, HandshakeTimer};
#[cfg(feature = "std")]
use crate::OsEntropy;
use crate::{Config, Connection, EntropySource, Role};
use core::fmt;
use core::time::Duration;
#[cfg(feature = "std")]
use std::time::Instant;

/// A client's handshake in progress: write [`request_bytes`](Self::request_bytes),
/// then feed the response to [`recv`](Self::recv) until it gives
/// [`Upgraded`].
///
/// ```
/// use wsproto::handshake::{Accept, ClientHandshake, ClientRequest, ServerHandshake};
/// use wsproto::Config;
///
/// let request = ClientRequest::new("ws://example.com/chat")?.protocol("chat.v1");
/// let mut client = ClientHandshake::new(&request, Config::default())?;
///
/// // A server on the other end (normally across a socket):
/// let mut server = ServerHandshake::new(&Config::default());
/// let offer = server.recv(client.request_bytes())?.expect("whole request");
/// let response = offer.accept(&Accept::new().protocol("chat.v1"))?;
///
/// let upgraded = client.recv(&response.to_bytes())?.expect("whole response");
/// assert_eq!(upgraded.protocol(), Some("chat.v1"));
/// let mut connection = upgraded.into_connection();
/// connection.send_text("hello")?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ClientHandshake {
    /// The request head as written, and as fields for `http` conversions.
    request: Vec<u8>,
    resource: String,
    fields: Headers,
    /// The URL's scheme was `wss`: an extended CONNECT's `:scheme` is
    /// `https`. (Its `:authority` is the `Host` field, in `fields`.)
    tls: bool,
    expected_accept: [u8; 28],
    protocols: Vec<String>,
    offered_extensions: Vec<Extension>,
    reader: HeadReader,
    max_headers: usize,
    config: Config,
    timer: HandshakeTimer,
    progress: Progress,
}

enum Progress {
    /// Holds the entropy source, which moves into the connection.
    Reading(Box<dyn EntropySource>),
    Complete,
    Failed(ResponseError),
}

impl fmt::Debug for ClientHandshake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientHandshake")
            .field("request", &String::from_utf8_lossy(&self.request))
            .field(
                "progress",
                &match &self.progress {
                    Progress::Reading(_) => "reading",
                    Progress::Complete => "complete",
                    Progress::Failed(_) => "failed",
                },
            )
            .field("deadline", &self.poll_timeout_at())
            .finish_non_exhaustive()
    }
}

impl ClientHandshake {
    /// Starts a handshake with a key from [`OsEntropy`](crate::OsEntropy)
    /// (ChaCha12 seeded from the operating system's generator).
    /// `config` limits the response head (its size, its fields, and with
    /// [`handle_timeout`](Self::handle_timeout) the time it may take) and
    /// configures the connection.
    #[cfg(feature = "std")]
    pub fn new(request: &ClientRequest, config: Config) -> Result<Self, BuildError> {
        Self::with_entropy(request, config, Box::new(OsEntropy::new()))
    }

    /// Starts a handshake with a key from `entropy`, which then moves into
    /// the connection to make its masks.
    pub fn with_entropy(
        request: &ClientRequest,
        config: Config,
        mut entropy: Box<dyn EntropySource>,
    ) -> Result<Self, BuildError> {
        let mut nonce = [0u8; 16];
        entropy.fill(&mut nonce)?;
        let key = encode_key(&nonce);
        #[allow(unused_mut)] // without the deflate feature
        let mut offers = request.extensions.clone();
        #[cfg(feature = "deflate")]
        {
            if let Some(managed) = offers.iter().find(|e| deflate_negotiation::is_deflate(e)) {
                // Offered through `Config::deflate`, so the connection applies it.
                return Err(BuildError::InvalidExtension(managed.name().into()));
            }
            if config.deflate.enabled {
                offers.push(deflate_negotiation::offer(&config.deflate));
            }
        }
        let fields = request.fields(&key, &offers)?;
        let mut head = Vec::with_capacity(256);
        head.extend_from_slice(b"GET ");
        head.extend_from_slice(request.resource().as_bytes());
        head.extend_from_slice(b" HTTP/1.1\r\n");
        write_fields(&mut head, fields.iter());
        Ok(ClientHandshake {
            request: head,
            resource: request.resource().to_owned(),
            fields,
            tls: request.is_tls(),
            expected_accept: accept_key(key.as_bytes()),
            protocols: request.protocols.clone(),
            offered_extensions: offers,
            reader: HeadReader::new(config.max_handshake_len),
            max_headers: config.max_headers,
            timer: HandshakeTimer::new(config.handshake_timeout),
            config,
            progress: Progress::Reading(entropy),
        })
    }

    /// The request to write to the transport, whole.
    pub fn request_bytes(&self) -> &[u8] {
        &self.request
    }

    /// The request target (path and query) and header fields, for
    /// conversions into other request types.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn request_parts(&self) -> (&str, &Headers) {
        (&self.resource, &self.fields)
    }

    /// Whether the URL was `wss://`, for an extended CONNECT's `:scheme`.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn is_tls(&self) -> bool {
        self.tls
    }

    /// Feeds bytes of the server's response. `Ok(None)` while the head is
    /// incomplete (every byte was taken); [`Upgraded`] when the server
    /// accepted; a [`ResponseError`] (keeping the received status and
    /// headers) for any other answer.
    pub fn recv(&mut self, input: &[u8]) -> Result<Option<Upgraded>, ResponseError> {
        self.check_usable()?;
        let mut input = input;
        loop {
            let (result, after_head) = match self.reader.push(input) {
                HeadProgress::Partial => return Ok(None),
                HeadProgress::TooLarge => {
                    let error = ResponseError::new(ResponseErrorKind::HeadTooLarge, None);
                    (Err(error), &[][..])
                }
                HeadProgress::Complete { consumed } => {
                    let after_head = &input[consumed..];
                    match self.check_head(after_head) {
                        // An interim response (100 Continue, 103 Early
                        // Hints): RFC 9110 section 15.2 says to read on to
                        // the final one.
                        Ok(None) => {
                            self.reader.reset();
                            input = after_head;
                            continue;
                        }
                        Ok(Some(checked)) => (Ok(checked), after_head),
                        Err(error) => (Err(error), after_head),
                    }
                }
            };
            return self.finish(result, after_head).map(Some);
        }
    }

    /// Tells the handshake the time; no clock is read inside this crate.
    ///
    /// The first call starts the clock: while the response is still being
    /// read and [`Config::handshake_timeout`] is set, the deadline becomes
    /// `now` plus the timeout. A call at or after the deadline, with the
    /// response head still incomplete, fails the handshake with
    /// [`ResponseErrorKind::Timeout`] (no status: nothing complete was
    /// received); close the transport. Like every handshake error it is
    /// sticky: later [`recv`](Self::recv) and `handle_timeout` calls return
    /// it again.
    ///
    /// Otherwise returns the deadline to wake up at: `None` when no timeout
    /// is configured, and once the handshake is complete.
    ///
    /// The driver pattern: call `handle_timeout(Instant::now())` once the
    /// request is written (or when connecting starts, to count the
    /// connection's setup too), and again every time the driver wakes up
    /// (bytes readable, or the timer fired), after feeding what it read to
    /// [`recv`](Self::recv); then sleep until the returned deadline or until
    /// the transport is readable, whichever comes first.
    /// [`poll_timeout`](Self::poll_timeout) gives the same deadline without
    /// changing anything.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use wsproto::handshake::{ClientHandshake, ClientRequest, ResponseErrorKind};
    /// use wsproto::Config;
    ///
    /// let request = ClientRequest::new("ws://example.com/chat")?;
    /// let mut handshake = ClientHandshake::new(&request, Config::default())?; // 10 s
    /// // ... write `handshake.request_bytes()` ...
    /// let start = Instant::now(); // simulated: any instant will do
    /// assert_eq!(handshake.handle_timeout(start)?, Some(start + Duration::from_secs(10)));
    /// assert!(handshake.recv(b"HTTP/1.1 101 Switching Protocols\r\n")?.is_none());
    ///
    /// // The rest of the head never comes.
    /// let error = handshake
    ///     .handle_timeout(start + Duration::from_secs(11))
    ///     .unwrap_err();
    /// assert_eq!(error.kind(), ResponseErrorKind::Timeout);
    /// assert_eq!(error.status(), None);
    /// // Sticky: the handshake is over.
    /// assert_eq!(handshake.recv(b"\r\n").unwrap_err().kind(), ResponseErrorKind::Timeout);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "std")]
    pub fn handle_timeout(&mut self, now: Instant) -> Result<Option<Instant>, ResponseError> {
        let at = self.timer.clock.offset(now);
        let next = self.handle_timeout_at(at)?;
        Ok(next.and_then(|next| self.timer.clock.instant(next)))
    }

    /// [`handle_timeout`](Self::handle_timeout) on a clock without
    /// `Instant` (`no_std`): `now` and the deadline are offsets from an
    /// origin of the driver's choosing on a monotonic clock.
    pub fn handle_timeout_at(&mut self, now: Duration) -> Result<Option<Duration>, ResponseError> {
        match &self.progress {
            Progress::Reading(_) => {}
            Progress::Complete => return Ok(None),
            Progress::Failed(error) => return Err(error.clone()),
        }
        self.timer.handle(now).map_err(|Expired| {
            let error = ResponseError::new(ResponseErrorKind::Timeout, None);
            // Drops the entropy source: no connection will follow.
            self.progress = Progress::Failed(error.clone());
            error
        })
    }

    /// The deadline [`handle_timeout`](Self::handle_timeout) armed, while
    /// the response is still being read: when to call it next. `None`
    /// before the first call, without a configured timeout, and once the
    /// handshake has completed or failed.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use wsproto::handshake::{ClientHandshake, ClientRequest};
    /// use wsproto::Config;
    ///
    /// let mut config = Config::default();
    /// config.handshake_timeout = Some(Duration::from_secs(5));
    /// let request = ClientRequest::new("ws://example.com/chat")?;
    /// let mut handshake = ClientHandshake::new(&request, config)?;
    /// assert_eq!(handshake.poll_timeout(), None); // not started
    /// let start = Instant::now();
    /// handshake.handle_timeout(start)?;
    /// assert_eq!(handshake.poll_timeout(), Some(start + Duration::from_secs(5)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "std")]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timer.clock.instant(self.poll_timeout_at()?)
    }

    /// [`poll_timeout`](Self::poll_timeout) as an offset on the driver's
    /// clock, for [`handle_timeout_at`](Self::handle_timeout_at).
    pub fn poll_timeout_at(&self) -> Option<Duration> {
        match self.progress {
            Progress::Reading(_) => self.timer.deadline(),
            Progress::Complete | Progress::Failed(_) => None,
        }
    }

    /// Not part of the stable API: bytes this handshake has copied, searched
    /// and parsed, read by the linear-work tests (`tests/heap/linear_work.rs`).
    #[doc(hidden)]
    #[cfg(feature = "test-meter")]
    pub fn bytes_examined(&self) -> u64 {
        self.reader.examined()
    }

    /// The sticky error, or `AlreadyComplete` once the connection left.
    pub(crate) fn check_usable(&self) -> Result<(), ResponseError> {
        match &self.progress {
            Progress::Reading(_) => Ok(()),
            Progress::Complete => Err(ResponseError::new(ResponseErrorKind::AlreadyComplete, None)),
            Progress::Failed(error) => Err(error.clone()),
        }
    }

    /// Records a failure, or hands the entropy to the new connection.
    /// Called only while reading (after `check_usable`).
    pub(crate) fn finish(
        &mut self,
        result: Result<Checked, ResponseError>,
        leftover: &[u8],
    ) -> Result<Upgraded, ResponseError> {
        let next = match &result {
            Ok(_) => Progress::Complete,
            Err(error) => Progress::Failed(error.clone()),
        };
        let Progress::Reading(entropy) = core::mem::replace(&mut self.progress, next) else {
            return Err(ResponseError::new(ResponseErrorKind::AlreadyComplete, None));
        };
        let checked = result?;
        #[allow(unused_mut)] // without the deflate feature
        let mut connection = Connection::with_entropy(Role::Client, self.config.clone(), entropy);
        #[cfg(feature = "deflate")]
        if let Some(params) = checked.deflate {
            connection.enable_deflate(params, &self.config);
        }
        Ok(Upgraded {
            response: checked.response,
            protocol: checked.protocol,
            extensions: checked.extensions,
            leftover: leftover.to_vec(),
            connection,
        })
    }

    /// Parses the complete response head, then checks it; `None` for an
    /// interim 1xx response other than 101.
    fn check_head(&self, after_head: &[u8]) -> Result<Option<Checked>, ResponseError> {
        let mut fields = field_slots(self.reader.head(), self.max_headers);
        let mut parsed = httparse::Response::new(&mut fields);
        let malformed = || ResponseError::new(ResponseErrorKind::Malformed, None);
        match parsed.parse(self.reader.head()) {
            Ok(httparse::Status::Complete(_)) => {}
            Err(httparse::Error::TooManyHeaders) => {
                return Err(ResponseError::new(ResponseErrorKind::TooManyHeaders, None));
            }
            Ok(httparse::Status::Partial) | Err(_) => return Err(malformed()),
        }
        let (Some(minor), Some(status)) = (parsed.version, parsed.code) else {
            return Err(malformed());
        };
        if (100..200).contains(&status) && status != 101 {
            return Ok(None);
        }
        let headers: Headers = parsed.headers.iter().map(|f| (f.name, f.value)).collect();
        self.check_parts(
            Answer::Upgrade { http11: minor == 1 },
            status,
            headers,
            after_head,
        )
        .map(Some)
    }

    /// Checks a response's parts: for an HTTP/1.1 upgrade, 101 over
    /// HTTP/1.1, `Upgrade`, `Connection` and the accept key; for an
    /// extended CONNECT (HTTP/2 or /3), a 2xx; then only offered choices.
    pub(crate) fn check_parts(
        &self,
        answer: Answer,
        status: u16,
        headers: Headers,
        after_head: &[u8],
    ) -> Result<Checked, ResponseError> {
        use ResponseErrorKind as Kind;
        let accepted = match answer {
            Answer::Upgrade { .. } => status == 101,
            // RFC 8441 section 5: any 2xx opens the tunnel.
            Answer::ExtendedConnect => (200..300).contains(&status),
        };
        if !accepted {
            let response = Response::received(status, headers, after_head.to_vec());
            return Err(ResponseError::new(Kind::NotSwitching, Some(response)));
        }
        let kind = if let Answer::ExtendedConnect = answer {
            // No key, and no `Upgrade` or `Connection` (HTTP/2 forbids them).
            None
        } else if answer == (Answer::Upgrade { http11: false }) {
            Some(Kind::HttpVersion)
        } else if !headers.has_token("Upgrade", "websocket") {
            Some(Kind::NotWebSocket)
        } else if !headers.has_token("Connection", "upgrade") {
            Some(Kind::MissingConnectionUpgrade)
        } else if single_str(&headers, "Sec-WebSocket-Accept").map(str::as_bytes)
            != Some(&self.expected_accept[..])
        {
            Some(Kind::InvalidAccept)
        } else {
            None
        };
        // A 101 is written verbatim either way; `tunnel` keeps it equal to the one sent.
        let response = Response::tunnel(status, headers);
        let fail = |kind| Err(ResponseError::new(kind, Some(response.clone())));
        if let Some(kind) = kind {
            return fail(kind);
        }
        let Ok(protocol) = self.chosen_protocol(response.headers()) else {
            return fail(Kind::ProtocolNotOffered);
        };
        let Ok(extensions) = self.chosen_extensions(response.headers()) else {
            return fail(Kind::ExtensionNotOffered);
        };
        #[cfg(feature = "deflate")]
        let deflate = match extensions
            .iter()
            .find(|e| deflate_negotiation::is_deflate(e))
        {
            None => None,
            Some(answer) => match deflate_negotiation::check_answer(answer, &self.config.deflate) {
                Ok(params) => Some(params),
                Err(_) => return fail(Kind::InvalidExtensionParams),
            },
        };
        Ok(Checked {
            response,
            protocol,
            extensions,
            #[cfg(feature = "deflate")]
            deflate,
        })
    }

    /// At most one subprotocol, and one the client offered.
    fn chosen_protocol(&self, headers: &Headers) -> Result<Option<String>, ()> {
        let mut chosen = headers
            .get_all("Sec-WebSocket-Protocol")
            .flat_map(list_elements);
        match (chosen.next(), chosen.next()) {
            (None, _) => Ok(None),
            (Some(name), None) => self
                .protocols
                .iter()
                .find(|offered| offered.as_bytes() == name)
                .map(|offered| Some(offered.clone()))
                .ok_or(()),
            (Some(_), Some(_)) => Err(()),
        }
    }

    /// Well-formed extensions, each offered, none twice.
    fn chosen_extensions(&self, headers: &Headers) -> Result<Vec<Extension>, ()> {
        let mut extensions: Vec<Extension> = Vec::new();
        for value in headers.get_all("Sec-WebSocket-Extensions") {
            extension::parse_into(value, &mut extensions).map_err(|_| ())?;
        }
        extension::check_choices(&extensions, &self.offered_extensions).map_err(|_| ())?;
        Ok(extensions)
    }
}

/// What kind of answer a response is to: the HTTP/1.1 upgrade (and
/// whether it came over HTTP/1.1), or an extended CONNECT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Answer {
    Upgrade {
        http11: bool,
    },
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    ExtendedConnect,
}

/// A response that passed every check.
pub(crate) struct Checked {
    response: Response,
    protocol: Option<String>,
    extensions: Vec<Extension>,
    #[cfg(feature = "deflate")]
    deflate: Option<crate::DeflateParams>,
}

/// A completed client handshake: what the server chose, and the connection.
#[derive(Debug)]
pub struct Upgraded {
    response: Response,
    protocol: Option<String>,
    extensions: Vec<Extension>,
    leftover: Vec<u8>,
    connection: Connection,
}

impl Upgraded {
    /// The server's response, its 101 (or the 2xx of an extended
    /// CONNECT), for its headers, such as `Set-Cookie`.
    pub fn response(&self) -> &Response {
        &self.response
    }

    /// The subprotocol the server chose, one of those offered.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// The extensions the server accepted, with its parameters.
    pub fn extensions(&self) -> &[Extension] {
        &self.extensions
    }

    /// The permessage-deflate parameters agreed on, if the server accepted
    /// the offer [`Config::deflate`](crate::Config::deflate) made.
    #[cfg(feature = "deflate")]
    pub fn deflate(&self) -> Option<crate::DeflateParams> {
        self.connection.deflate()
    }

    /// Bytes that arrived after the head in the same input: the server's
    /// first frames. [`into_connection`](Self::into_connection) feeds them
    /// to the connection.
    pub fn leftover(&self) -> &[u8] {
        &self.leftover
    }

    /// Takes the leftover bytes out, for a driver that feeds them itself.
    /// Without it, [`into_connection`](Self::into_connection) keeps them in
    /// the connection, where either receive level hands them out first.
    pub fn take_leftover(&mut self) -> Vec<u8> {
        core::mem::take(&mut self.leftover)
    }

    /// The client's [`Connection`], holding the leftover bytes: they come
    /// first at either receive level (see
    /// [`into_streaming`](Connection::into_streaming)).
    pub fn into_connection(self) -> Connection {
        let mut connection = self.connection;
        if !self.leftover.is_empty() {
            connection.recv(&self.leftover);
        }
        connection
    }
}
