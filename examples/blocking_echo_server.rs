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
//! Backpressure: each thread writes out everything it queued (`write_all`
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

use wsproto::State;
use wsproto::handshake::{Request, Response, ServerHandshake};

use support::{DEFAULT_ADDR, HANDSHAKE_TIMEOUT, LINGER_TIMEOUT, Outcome, READ_CHUNK};

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
    let mut buf = vec![0; READ_CHUNK];
    let request = match read_request(&mut tcp, &mut buf) {
        Ok(request) => request,
        Err(outcome) => return outcome,
    };
    // From here on the peer sets the pace: reads wait as long as it takes.
    if let Err(error) = tcp.set_read_timeout(None) {
        return error.into();
    }
    if let Err(error) = tcp.write_all(&support::accept(&request).to_bytes()) {
        return error.into();
    }
    let mut conn = request.into_connection(support::config());
    let mut outcome = None;
    loop {
        if let Some(ended) = support::echo_events(&mut conn) {
            outcome.get_or_insert(ended);
        }
        // Write everything queued before reading more: this is the
        // backpressure (`write_all` blocks while the peer does not read).
        let pending = conn.pending_transmit();
        if !pending.is_empty() {
            let written = pending.len();
            if let Err(error) = tcp.write_all(pending) {
                return error.into();
            }
            conn.advance_transmit(written);
        }
        if conn.state() == State::Closed {
            linger(&mut tcp, &mut buf);
            return outcome.unwrap_or(Outcome::Closed(None));
        }
        match tcp.read(&mut buf) {
            Ok(0) => conn.recv_eof(),
            Ok(n) => conn.recv(&buf[..n]),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return error.into(),
        }
    }
}

/// Reads the upgrade request within `HANDSHAKE_TIMEOUT`. A bad one is
/// answered with its HTTP status.
fn read_request(tcp: &mut TcpStream, buf: &mut [u8]) -> Result<Request, Outcome> {
    let deadline = Instant::now() + HANDSHAKE_TIMEOUT;
    let mut handshake = ServerHandshake::new(&support::config());
    loop {
        let n = read_before(tcp, buf, deadline)?;
        if n == 0 {
            return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into());
        }
        match handshake.recv(&buf[..n]) {
            Ok(Some(request)) => return Ok(request),
            Ok(None) => {}
            Err(error) => {
                tcp.write_all(&error.response().to_bytes())?;
                linger(tcp, buf);
                return Err(Outcome::Refused(error));
            }
        }
    }
}

/// Ends our side of the stream, then reads (and drops) what the peer still
/// sends until it closes too or `LINGER_TIMEOUT` passes, so that our last
/// bytes are not destroyed by a reset.
fn linger(tcp: &mut TcpStream, buf: &mut [u8]) {
    let deadline = Instant::now() + LINGER_TIMEOUT;
    let _ = tcp.shutdown(Shutdown::Write);
    while let Ok(1..) = read_before(tcp, buf, deadline) {}
}

/// One read that fails once `deadline` has passed. The read timeout is
/// reset to the time left before every read: a fixed one would restart with
/// each byte, and a peer sending one byte at a time would never time out.
fn read_before(tcp: &mut TcpStream, buf: &mut [u8], deadline: Instant) -> io::Result<usize> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        tcp.set_read_timeout(Some(left))?;
        match tcp.read(buf) {
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            result => return result,
        }
    }
}
