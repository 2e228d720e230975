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
//! bytes of its output wait; beyond that it waits for its socket to become
//! writable, and TCP flow control slows the peer. Readiness is
//! edge-triggered, so each wakeup runs a connection until its socket would
//! block, which also picks up input left unread under backpressure; a turn
//! cut short for fairness is resumed without waiting for an event. Close:
//! once the connection is `Closed` and its output written, the server shuts
//! down its sending side first, then drops the peer's input until EOF or
//! `LINGER_TIMEOUT`. The earliest handshake or linger deadline is the poll
//! timeout.

mod support;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use wsproto::handshake::ServerHandshake;
use wsproto::{Connection, State};

use support::{DEFAULT_ADDR, HANDSHAKE_TIMEOUT, LINGER_TIMEOUT, Outcome, READ_CHUNK};

const LISTENER: Token = Token(0);
/// Unwritten output above which a connection is not read.
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
        let ready = events.iter().map(|event| event.token());
        for token in ready.chain(std::mem::take(&mut resume)) {
            let Some(client) = server.clients.get_mut(&token) else {
                if token == LISTENER {
                    server.accept_all();
                }
                continue; // or finished earlier in this batch
            };
            let deadline = client.deadline;
            let turn = client.run(&mut buf);
            // A new deadline (the linger's) joins the heap.
            if let Some(at) = client.deadline.filter(|&at| Some(at) != deadline) {
                server.deadlines.push(Reverse((at, token)));
            }
            match turn {
                Turn::Blocked => {}
                Turn::CutShort => resume.push(token),
                Turn::Finished(outcome) => server.finish(token, outcome),
            }
        }
        server.expire(Instant::now());
    }
}

struct Server {
    poll: Poll,
    listener: TcpListener,
    /// Tokens are never reused, so a late event cannot reach a newcomer.
    clients: HashMap<Token, Client>,
    /// Handshake and linger deadlines (and accept retries), earliest first.
    /// Entries go stale when a client moves on or goes: `expire` checks.
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
            let token = Token(self.next_token);
            self.next_token += 1;
            let interest = Interest::READABLE | Interest::WRITABLE;
            if let Err(error) = self.poll.registry().register(&mut tcp, token, interest) {
                eprintln!("{peer}: {}", Outcome::from(error));
                continue;
            }
            let deadline = Instant::now() + HANDSHAKE_TIMEOUT;
            self.deadlines.push(Reverse((deadline, token)));
            let stage = Stage::Handshake(ServerHandshake::new(&support::config()));
            let (head, deadline, outcome) = (Vec::new(), Some(deadline), None);
            let client = Client {
                tcp,
                peer,
                stage,
                head,
                deadline,
                outcome,
            };
            self.clients.insert(token, client);
        }
    }

    /// Drops the clients whose deadline has passed.
    fn expire(&mut self, now: Instant) {
        while let Some(&Reverse((_, token))) = self.deadlines.peek().filter(|next| next.0.0 <= now)
        {
            self.deadlines.pop();
            match self.clients.get_mut(&token) {
                Some(client) if client.deadline.is_some_and(|deadline| deadline <= now) => {
                    let outcome = client.outcome.take().unwrap_or(Outcome::TimedOut);
                    self.finish(token, outcome);
                }
                None if token == LISTENER => self.accept_all(),
                _ => {}
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
    /// Reading the upgrade request, until the handshake deadline.
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
    /// When the handshake or the linger gives up.
    deadline: Option<Instant>,
    /// How the connection ended, once known.
    outcome: Option<Outcome>,
}

impl Client {
    /// Writes what waits, then reads if backpressure allows and feeds the
    /// input in, until the socket would block or the turn is over. Any
    /// readiness runs it: it simply tries both directions.
    fn run(&mut self, buf: &mut [u8]) -> Turn {
        for _ in 0..READS_PER_TURN {
            if let Err(error) = self.flush() {
                // Once an outcome is known, a failing socket changes nothing.
                return Turn::Finished(self.outcome.take().unwrap_or(error.into()));
            }
            // Output left after `flush` means the socket is full: a WRITABLE
            // event will come. `all_queued`: no more output will come.
            let (unwritten, all_queued) = match &self.stage {
                Stage::Open(conn) => (conn.pending_transmit().len(), conn.state() == State::Closed),
                stage => (0, matches!(stage, Stage::Refusing)),
            };
            let unwritten = unwritten + self.head.len();
            if all_queued && unwritten == 0 {
                let _ = self.tcp.shutdown(Shutdown::Write); // the server closes TCP first
                self.outcome.get_or_insert(Outcome::Closed(None));
                self.deadline = Some(Instant::now() + LINGER_TIMEOUT);
                self.stage = Stage::Lingering;
            } else if all_queued || unwritten > MAX_UNWRITTEN {
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
                    self.deadline = None;
                    // Frames sent along with the request are answered below.
                    let conn = request.into_connection(support::config());
                    self.stage = Stage::Open(Box::new(conn));
                }
                Err(error) => {
                    self.head = error.response().to_bytes();
                    self.outcome = Some(Outcome::Refused(error));
                    self.stage = Stage::Refusing;
                }
            },
            Stage::Open(conn) if input.is_empty() => conn.recv_eof(),
            Stage::Open(conn) => conn.recv(input),
            Stage::Lingering if input.is_empty() => {
                return Some(self.outcome.take().unwrap_or(Outcome::Closed(None)));
            }
            Stage::Refusing | Stage::Lingering => {}
        }
        if let Stage::Open(conn) = &mut self.stage {
            if let Some(ended) = support::echo_events(conn) {
                self.outcome.get_or_insert(ended);
            }
        }
        None
    }

    /// Writes until nothing waits or the socket would block. After a short
    /// write the rest stays queued: `advance_transmit` drops only what went.
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
}
