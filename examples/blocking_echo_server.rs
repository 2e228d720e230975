//! A multi-connection echo server on blocking `std::net`, one thread per
//! connection.
//!
//! ```sh
//! cargo run --release --example blocking_echo_server -- 127.0.0.1:9001
//! ```
//!
//! It behaves as `echo_server` without TLS: it echoes text and binary
//! messages unchanged, answers pings, echoes the peer's close code, refuses
//! bad upgrade requests with the right HTTP status and closes with the right
//! code on protocol errors, logging one line per connection on stderr. Past
//! `MAX_CONNECTIONS` at once, new connections get a 503.
//!
//! Timers: the socket's read and write timeouts are set to the time left
//! until the connection's next deadline (`handle_timeout`), so a blocked
//! read or write wakes up in time to send a keepalive ping, give up on a
//! silent peer, or end a closing handshake that does not finish; the
//! opening handshake answers 408 past `HANDSHAKE_TIMEOUT`.
//!
//! Backpressure: each thread writes out everything it queued (the write
//! blocks while the peer does not read) before it reads again, so a peer
//! that does not read is no longer read either; TCP flow control then slows
//! the sender. Memory per connection is bounded by one read chunk and
//! `Config::max_message_len`. Close: once the connection is `Closed`, the
//! server shuts down its sending side first, then reads and drops what the
//! peer still sends until its EOF or `LINGER_TIMEOUT`, and drops the socket.

mod support;

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use wsproto::handshake::{Request, RequestError, Response, ServerHandshake};
use wsproto::{Config, State};

use support::{DEFAULT_ADDR, LINGER_TIMEOUT, Outcome, READ_CHUNK};

/// Connections served at once. Each costs a thread (stack and scheduler
/// entry); past this, new connections are refused with 503.
const MAX_CONNECTIONS: usize = 1024;

fn main() -> io::Result<()> {
    let addr = std::env::args().skip(1).last();
    let listener = TcpListener::bind(addr.as_deref().unwrap_or(DEFAULT_ADDR))?;
    println!("echo server listening on ws://{}/", listener.local_addr()?);
    serve(listener)
}

/// Accepts connections until the process ends, one thread each.
pub fn serve(listener: TcpListener) -> ! {
    let active = Arc::new(AtomicUsize::new(0));
    loop {
        let (tcp, peer) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors, say: back off instead of spinning.
                eprintln!("accept failed: {error}");
                thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        let slot = Slot::take(&active);
        if slot.is_none() {
            refuse_busy(&tcp);
            eprintln!("{peer}: refused with 503: too many connections");
            continue;
        }
        // `Builder::spawn` reports failure instead of panicking; the slot
        // and the socket are then dropped with the closure.
        let spawned = thread::Builder::new().spawn(move || {
            let _slot = slot;
            let outcome = serve_connection(tcp);
            eprintln!("{peer}: {outcome}");
        });
        if let Err(error) = spawned {
            eprintln!("{peer}: no thread to serve it: {error}");
        }
    }
}

/// One of the `MAX_CONNECTIONS` places, given back when dropped (even by a
/// panicking thread).
struct Slot(Arc<AtomicUsize>);

impl Slot {
    fn take(active: &Arc<AtomicUsize>) -> Option<Slot> {
        let slot = Slot(Arc::clone(active));
        (active.fetch_add(1, Ordering::Relaxed) < MAX_CONNECTIONS).then_some(slot)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Answers 503 without reading the request or waiting: the accept loop must
/// not block. Best effort: if the request is already in, the close may turn
/// into a reset that the client sees instead of the 503.
fn refuse_busy(mut tcp: &TcpStream) {
    if let Ok(busy) = Response::new(503) {
        let _ = tcp.set_nonblocking(true);
        let _ = tcp.write(&busy.body("too many connections").to_bytes());
    }
}

/// One connection: the opening handshake, then echo until it is closed.
fn serve_connection(mut tcp: TcpStream) -> Outcome {
    let config = support::config();
    let mut buf = vec![0; READ_CHUNK];
    let request = match read_request(&mut tcp, &mut buf, &config) {
        Ok(request) => request,
        Err(outcome) => return outcome,
    };
    if let Err(error) = tcp.write_all(&support::accept(&request).to_bytes()) {
        return error.into();
    }
    let mut conn = request.into_connection(config);
    let mut outcome = None;
    loop {
        match support::echo_events(&mut conn) {
            // A refused echo is a lost message: give up on the connection.
            Some(failed @ Outcome::SendFailed(_)) => return failed,
            Some(ended) => {
                outcome.get_or_insert(ended);
            }
            None => {}
        }
        // After every wake-up: arms the closing handshake's timer once a
        // close is queued, queues a keepalive ping or fails the connection
        // when due, and says when to come back.
        let deadline = conn.handle_timeout(Instant::now());
        // Everything queued goes out before the next read: this is the
        // backpressure (`wants_read()` holds once nothing is pending).
        // `pending_transmit` may hand out only part of what waits (an owed
        // pong goes ahead of queued data): one write, then round again.
        let pending = conn.pending_transmit();
        if !pending.is_empty() {
            match write_before(&mut tcp, pending, deadline) {
                Ok(0) => return io::Error::from(io::ErrorKind::WriteZero).into(),
                Ok(n) => conn.advance_transmit(n),
                // The deadline: `handle_timeout` above runs the timer.
                Err(error) if timed_out(&error) => {}
                Err(error) => return error.into(),
            }
            continue;
        }
        if conn.state() == State::Closed {
            // A timer's failure is reported by the next poll.
            let outcome = outcome.or_else(|| support::echo_events(&mut conn));
            linger(&mut tcp, &mut buf);
            return outcome.unwrap_or(Outcome::Closed(None));
        }
        match read_before(&mut tcp, &mut buf, deadline) {
            Ok(0) => conn.recv_eof(),
            Ok(n) => conn.recv(&buf[..n]),
            Err(error) if timed_out(&error) => {}
            Err(error) => return error.into(),
        }
    }
}

/// Reads the upgrade request, until `Config::handshake_timeout` runs out
/// (the first `handle_timeout` starts the clock). A bad request, or none in
/// time, is answered with its HTTP status (408 for the latter).
fn read_request(tcp: &mut TcpStream, buf: &mut [u8], config: &Config) -> Result<Request, Outcome> {
    let mut handshake = ServerHandshake::new(config);
    loop {
        let deadline = match handshake.handle_timeout(Instant::now()) {
            Ok(deadline) => deadline,
            Err(error) => return Err(refuse(tcp, buf, error)),
        };
        let n = match read_before(tcp, buf, deadline) {
            Ok(0) => return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into()),
            Ok(n) => n,
            Err(error) if timed_out(&error) => continue, // answered above
            Err(error) => return Err(error.into()),
        };
        match handshake.recv(&buf[..n]) {
            Ok(Some(request)) => return Ok(request),
            Ok(None) => {}
            Err(error) => return Err(refuse(tcp, buf, error)),
        }
    }
}

/// Answers a refused upgrade with its HTTP status, then lingers.
fn refuse(tcp: &mut TcpStream, buf: &mut [u8], error: RequestError) -> Outcome {
    if let Err(error) = tcp.write_all(&error.response().to_bytes()) {
        return error.into();
    }
    linger(tcp, buf);
    Outcome::Refused(error)
}

/// Ends our side of the stream, then reads (and drops) what the peer still
/// sends until it closes too or `LINGER_TIMEOUT` passes, so that our last
/// bytes are not destroyed by a reset.
fn linger(tcp: &mut TcpStream, buf: &mut [u8]) {
    let deadline = Instant::now() + LINGER_TIMEOUT;
    let _ = tcp.shutdown(Shutdown::Write);
    while let Ok(1..) = read_before(tcp, buf, Some(deadline)) {}
}

/// One read that fails with `TimedOut` once `deadline` has passed (`None`:
/// wait as long as it takes). The read timeout is set to the time left
/// before every read: a fixed one would restart with each byte, and a peer
/// sending one byte at a time would never time out.
fn read_before(
    tcp: &mut TcpStream,
    buf: &mut [u8],
    deadline: Option<Instant>,
) -> io::Result<usize> {
    loop {
        tcp.set_read_timeout(time_left(deadline)?)?;
        match tcp.read(buf) {
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            result => return result,
        }
    }
}

/// One write (`write_all` would not tell how much went before a timeout),
/// bounded by `deadline` as `read_before` is.
fn write_before(tcp: &mut TcpStream, data: &[u8], deadline: Option<Instant>) -> io::Result<usize> {
    loop {
        tcp.set_write_timeout(time_left(deadline)?)?;
        match tcp.write(data) {
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            result => return result,
        }
    }
}

/// The socket timeout that ends at `deadline`, or `TimedOut` if it has
/// passed (a zero timeout is refused by the socket).
fn time_left(deadline: Option<Instant>) -> io::Result<Option<Duration>> {
    let Some(deadline) = deadline else {
        return Ok(None);
    };
    match deadline.saturating_duration_since(Instant::now()) {
        left if left.is_zero() => Err(io::ErrorKind::TimedOut.into()),
        left => Ok(Some(left)),
    }
}

/// A socket timeout: `WouldBlock` on Unix, `TimedOut` on Windows (and from
/// `time_left`).
fn timed_out(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}
