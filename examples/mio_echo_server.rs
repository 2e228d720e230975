//! A single-threaded echo server on a `mio` event loop: many connections,
//! non-blocking sockets, partial reads and partial writes.
//!
//! ```sh
//! cargo run --release --example mio_echo_server -- 127.0.0.1:9001
//! ```
//!
//! It behaves as `echo_server` without TLS: it echoes text and binary
//! messages unchanged, answers pings, echoes the peer's close code, refuses
//! bad upgrade requests with the right HTTP status and closes with the right
//! code on protocol errors, logging one line per connection on stderr.
//!
//! Backpressure: a connection is read only while at most `MAX_UNWRITTEN`
//! bytes of its output wait (far under the mark where `wants_read()` turns
//! false); beyond that it waits for its socket to become writable, and TCP
//! flow control slows the peer. It is registered for READABLE only while
//! it may read, for WRITABLE only while output waits. Readiness is
//! edge-triggered, so each turn runs a connection until its socket would
//! block, which also picks up input left unread under backpressure; a turn
//! cut short for fairness is resumed without waiting for an event.
//!
//! Timers: each connection's next deadline (the opening handshake's, then
//! the connection's keepalive or closing handshake, then the linger's)
//! sits in one heap; the earliest is the poll timeout, and a connection
//! whose deadline has passed gets a turn as if it were ready, which tells
//! its state machine the time. Close: once the connection is `Closed` and
//! its output written, the server shuts down its sending side first, then
//! drops the peer's input until EOF or `LINGER_TIMEOUT`.

mod support;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use wsproto::handshake::{RequestError, ServerHandshake};
use wsproto::{Connection, State};

use support::{DEFAULT_ADDR, LINGER_TIMEOUT, Outcome, READ_CHUNK};

const LISTENER: Token = Token(0);
/// Unwritten output above which a connection is not read. It is far under
/// `Config::send_high_water` (16 MiB), where `wants_read()` turns false:
/// reading right up to that mark would let the echoes of one read cross
/// it, and an echo refused with `WouldBlock` is a lost message.
const MAX_UNWRITTEN: usize = READ_CHUNK;
/// Reads per connection per turn, so that one fast peer cannot starve the rest.
const READS_PER_TURN: usize = 16;
fn main() -> io::Result<()> {
    let addr = std::env::args().skip(1).last();
    let listener = std::net::TcpListener::bind(addr.as_deref().unwrap_or(DEFAULT_ADDR))?;
    listener.set_nonblocking(true)?;
    println!("echo server listening on ws://{}/", listener.local_addr()?);
    serve(TcpListener::from_std(listener))
}

/// Serves connections until polling fails.
pub fn serve(mut listener: TcpListener) -> io::Result<()> {
    let poll = Poll::new()?;
    let registry = poll.registry();
    registry.register(&mut listener, LISTENER, Interest::READABLE)?;
    let (clients, deadlines) = (HashMap::new(), BinaryHeap::new());
    let mut server = Server {
        poll,
        listener,
        clients,
        deadlines,
        next_token: 1,
    };
    let mut resume = Vec::new(); // clients whose turn was cut short
    let mut due = Vec::new(); // clients whose deadline has passed
    let (mut events, mut buf) = (Events::with_capacity(1024), vec![0; READ_CHUNK]);
    loop {
        let timeout = match server.deadlines.peek() {
            _ if !resume.is_empty() => Some(Duration::ZERO),
            Some(Reverse((at, _))) => Some(at.saturating_duration_since(Instant::now())),
            None => None,
        };
        match server.poll.poll(&mut events, timeout) {
            Err(error) if error.kind() == ErrorKind::Interrupted => continue,
            result => result?,
        }
        server.take_due(Instant::now(), &mut due);
        // A client whose deadline passed runs like a ready one: its turn
        // starts by telling its state machine the time.
        let ready = events.iter().map(|event| event.token());
        for token in ready
            .chain(std::mem::take(&mut resume))
            .chain(due.drain(..))
        {
            let Some(client) = server.clients.get_mut(&token) else {
                if token == LISTENER {
                    server.accept_all();
                }
                continue; // or finished earlier in this batch
            };
            match client.run(&mut buf) {
                Turn::Blocked => {}
                Turn::CutShort => resume.push(token),
                Turn::Finished(outcome) => {
                    server.finish(token, outcome);
                    continue;
                }
            }
            server.update(token);
        }
    }
}

struct Server {
    poll: Poll,
    listener: TcpListener,
    /// Tokens are never reused, so a late event cannot reach a newcomer.
    clients: HashMap<Token, Client>,
    /// The clients' deadlines (and accept retries), earliest first. An
    /// entry counts only while it is its client's `wake`; the others are
    /// dropped as they come up.
    deadlines: BinaryHeap<Reverse<(Instant, Token)>>,
    next_token: usize,
}

impl Server {
    fn accept_all(&mut self) {
        loop {
            let (mut tcp, peer) = match self.listener.accept() {
                Ok(accepted) => accepted,
                Err(error) if error.kind() == ErrorKind::WouldBlock => return,
                Err(error) => {
                    // Out of file descriptors, say. No new event will come
                    // for the connections already waiting: retry soon.
                    eprintln!("accept failed: {error}");
                    let retry = Instant::now() + Duration::from_millis(100);
                    return self.deadlines.push(Reverse((retry, LISTENER)));
                }
            };
            // Echoes go out as they are written, not held back by Nagle
            // behind an earlier one the peer has not acknowledged yet.
            let _ = tcp.set_nodelay(true);
            let token = Token(self.next_token);
            self.next_token += 1;
            let interest = Interest::READABLE;
            if let Err(error) = self.poll.registry().register(&mut tcp, token, interest) {
                eprintln!("{peer}: {}", Outcome::from(error));
                continue;
            }
            let mut client = Client {
                tcp,
                peer,
                stage: Stage::Handshake(ServerHandshake::new(&support::config())),
                head: Vec::new(),
                linger: None,
                wake: None,
                interest,
                outcome: None,
            };
            client.tick(Instant::now()); // starts the handshake's clock
            self.clients.insert(token, client);
            self.update(token);
        }
    }

    /// Moves the clients whose deadline has passed (and the listener, when
    /// an accept is to be retried) to `due`.
    fn take_due(&mut self, now: Instant, due: &mut Vec<Token>) {
        while let Some(&Reverse((at, token))) = self.deadlines.peek().filter(|next| next.0.0 <= now)
        {
            self.deadlines.pop();
            match self.clients.get_mut(&token) {
                Some(client) if client.wake == Some(at) => {
                    client.wake = None;
                    due.push(token);
                }
                None if token == LISTENER => due.push(LISTENER),
                _ => {} // replaced by an earlier entry, or the client is gone
            }
        }
    }

    /// After a turn: files the client's next deadline and registers the
    /// readiness it now waits for.
    fn update(&mut self, token: Token) {
        let Some(client) = self.clients.get_mut(&token) else {
            return;
        };
        // The keepalive's deadline moves with every read: a new entry only
        // when it comes before the filed one, which otherwise wakes the
        // client early (a turn that finds nothing to do and files the next).
        let earlier = |at: &Instant| client.wake.is_none_or(|wake| *at < wake);
        if let Some(at) = client.deadline().filter(earlier) {
            self.deadlines.push(Reverse((at, token)));
            client.wake = Some(at);
        }
        let interest = client.interest();
        if interest == client.interest {
            return;
        }
        match self
            .poll
            .registry()
            .reregister(&mut client.tcp, token, interest)
        {
            Ok(()) => client.interest = interest,
            Err(error) => {
                let outcome = client.outcome.take().unwrap_or(error.into());
                self.finish(token, outcome);
            }
        }
    }

    fn finish(&mut self, token: Token, outcome: Outcome) {
        if let Some(mut client) = self.clients.remove(&token) {
            let _ = self.poll.registry().deregister(&mut client.tcp);
            eprintln!("{}: {outcome}", client.peer);
        }
    }
}

enum Stage {
    /// Reading the upgrade request, until the handshake's deadline.
    Handshake(ServerHandshake),
    /// Echoing; the 101 in `head` goes out before any frame.
    Open(Box<Connection>),
    /// Writing the refusal in `head`, then lingering.
    Refusing,
    /// Our side is shut down; input is dropped until EOF or the deadline.
    Lingering,
}

enum Turn {
    /// The socket would block: an event will come when it is ready.
    Blocked,
    /// The turn's reads are used up: no event will come for input already
    /// there, so the loop resumes the client itself.
    CutShort,
    Finished(Outcome),
}

struct Client {
    tcp: TcpStream,
    peer: SocketAddr,
    stage: Stage,
    /// The HTTP response (101 or refusal) not yet written.
    head: Vec<u8>,
    /// When the refusal or the linger gives up.
    linger: Option<Instant>,
    /// The deadline filed for this client in `Server::deadlines`.
    wake: Option<Instant>,
    /// The readiness registered for.
    interest: Interest,
    /// How the connection ended, once known.
    outcome: Option<Outcome>,
}

impl Client {
    /// Tells the state machine the time, writes what waits, then reads if
    /// backpressure allows and feeds the input in, until the socket would
    /// block or the turn is over. Any readiness runs it, and so does a
    /// deadline: it simply tries everything.
    fn run(&mut self, buf: &mut [u8]) -> Turn {
        for _ in 0..READS_PER_TURN {
            let now = Instant::now();
            if self.linger.is_some_and(|at| at <= now) {
                return Turn::Finished(self.outcome.take().unwrap_or(Outcome::TimedOut));
            }
            self.tick(now);
            if let Err(error) = self.flush() {
                // Once an outcome is known, a failing socket changes nothing.
                return Turn::Finished(self.outcome.take().unwrap_or(error.into()));
            }
            if self.written_all() {
                let _ = self.tcp.shutdown(Shutdown::Write); // the server closes TCP first
                self.outcome.get_or_insert(Outcome::Closed(None));
                self.linger = Some(now + LINGER_TIMEOUT);
                self.stage = Stage::Lingering;
            }
            // Not reading means output is left after `flush`: the socket is
            // full, and a WRITABLE event will come.
            if !self.reads() {
                return Turn::Blocked;
            }
            let n = match self.tcp.read(buf) {
                Ok(n) => n,
                Err(error) if error.kind() == ErrorKind::WouldBlock => return Turn::Blocked,
                Err(error) if error.kind() == ErrorKind::Interrupted => continue,
                Err(error) => return Turn::Finished(self.outcome.take().unwrap_or(error.into())),
            };
            if let Some(outcome) = self.feed(&buf[..n]) {
                return Turn::Finished(outcome);
            }
        }
        Turn::CutShort
    }

    /// Tells the handshake or the connection the time: a late request is
    /// refused with 408; the connection queues a keepalive ping, or fails
    /// on a timer, when due. Also arms the timers of anything fed since the
    /// last call (a close just queued), so it runs before every write.
    fn tick(&mut self, now: Instant) {
        match &mut self.stage {
            Stage::Handshake(handshake) => {
                if let Err(error) = handshake.handle_timeout(now) {
                    self.refuse(error, now);
                }
            }
            Stage::Open(conn) => {
                conn.handle_timeout(now);
                // The poll reports a timer's failure (input was answered
                // as it was fed: nothing else waits).
                if let Some(ended) = support::echo_events(conn) {
                    self.outcome.get_or_insert(ended);
                }
            }
            Stage::Refusing | Stage::Lingering => {}
        }
    }

    /// Feeds input to the current stage (empty input: end of stream).
    fn feed(&mut self, input: &[u8]) -> Option<Outcome> {
        match &mut self.stage {
            Stage::Handshake(_) if input.is_empty() => {
                return Some(io::Error::from(ErrorKind::UnexpectedEof).into());
            }
            Stage::Handshake(handshake) => match handshake.recv(input) {
                Ok(None) => {}
                Ok(Some(request)) => {
                    self.head = support::accept(&request).to_bytes();
                    // Frames sent along with the request are answered
                    // below; the next `tick` starts the connection's timers.
                    let conn = request.into_connection(support::config());
                    self.stage = Stage::Open(Box::new(conn));
                }
                Err(error) => self.refuse(error, Instant::now()),
            },
            Stage::Open(conn) if input.is_empty() => conn.recv_eof(),
            Stage::Open(conn) => conn.recv(input),
            Stage::Lingering if input.is_empty() => {
                return Some(self.outcome.take().unwrap_or(Outcome::Closed(None)));
            }
            Stage::Refusing | Stage::Lingering => {}
        }
        if let Stage::Open(conn) = &mut self.stage {
            match support::echo_events(conn) {
                // A refused echo is a lost message: give up on the connection.
                Some(failed @ Outcome::SendFailed(_)) => return Some(failed),
                Some(ended) => {
                    self.outcome.get_or_insert(ended);
                }
                None => {}
            }
        }
        None
    }

    /// Answers a refused upgrade (or one too late) with its HTTP status;
    /// writing it and the linger after it get `LINGER_TIMEOUT`.
    fn refuse(&mut self, error: RequestError, now: Instant) {
        self.head = error.response().to_bytes();
        self.outcome = Some(Outcome::Refused(error));
        self.linger = Some(now + LINGER_TIMEOUT);
        self.stage = Stage::Refusing;
    }

    /// Writes until nothing waits or the socket would block. After a short
    /// write the rest stays queued: `advance_transmit` drops only what went.
    /// `pending_transmit` may hand out only part of what waits (an owed
    /// pong goes ahead of queued data): the loop asks again until it is
    /// empty.
    fn flush(&mut self) -> io::Result<()> {
        loop {
            let pending = match &self.stage {
                _ if !self.head.is_empty() => &self.head[..],
                Stage::Open(conn) if !conn.pending_transmit().is_empty() => conn.pending_transmit(),
                _ => return Ok(()),
            };
            let written = match self.tcp.write(pending) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => n,
                Err(error) if error.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(error) if error.kind() == ErrorKind::Interrupted => continue,
                Err(error) => return Err(error),
            };
            match &mut self.stage {
                _ if !self.head.is_empty() => drop(self.head.drain(..written)),
                Stage::Open(conn) => conn.advance_transmit(written),
                _ => {}
            }
        }
    }

    /// Whether the connection is to be read now: not while more than
    /// `MAX_UNWRITTEN` bytes wait, nor once no more input is wanted.
    fn reads(&self) -> bool {
        match &self.stage {
            Stage::Handshake(_) | Stage::Lingering => true,
            Stage::Open(conn) => {
                conn.buffered_amount() <= MAX_UNWRITTEN && conn.state() != State::Closed
            }
            Stage::Refusing => false,
        }
    }

    /// Whether everything has been written and nothing more will be: time
    /// to close our side.
    fn written_all(&self) -> bool {
        let done = match &self.stage {
            Stage::Refusing => true,
            Stage::Open(conn) => {
                conn.state() == State::Closed && conn.pending_transmit().is_empty()
            }
            Stage::Handshake(_) | Stage::Lingering => false,
        };
        done && self.head.is_empty()
    }

    /// The readiness to wait for: READABLE while `reads`, WRITABLE while
    /// output waits (then the socket was full at the last write).
    fn interest(&self) -> Interest {
        let writes = !self.head.is_empty()
            || matches!(&self.stage, Stage::Open(conn) if !conn.pending_transmit().is_empty());
        match (self.reads(), writes) {
            (true, true) => Interest::READABLE | Interest::WRITABLE,
            (true, false) => Interest::READABLE,
            (false, _) => Interest::WRITABLE,
        }
    }

    /// When the client next needs a turn without an event: the handshake's
    /// or the connection's deadline (as the last `tick` armed it), or the
    /// refusal's and linger's.
    fn deadline(&self) -> Option<Instant> {
        match &self.stage {
            Stage::Handshake(handshake) => handshake.poll_timeout(),
            Stage::Open(conn) => conn.poll_timeout(),
            Stage::Refusing | Stage::Lingering => self.linger,
        }
    }
}
