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
//! code on protocol errors, logging one line per connection on stderr.
//!
//! **What it is for.** The simplest way to drive the core: each connection
//! is straight-line code in a thread of its own, with no runtime and no
//! event loop. That fits servers with up to a few thousand connections.
//! A thread is the floor of its cost: about 10 KiB of memory per idle
//! connection (two pages of stack and the thread's bookkeeping, measured
//! by `scripts/load.sh`), and a kernel thread; about 23 KiB once it has
//! exchanged compressed messages (a thread that compressed keeps a page
//! more of stack, and glibc's per-thread caches hold more). For tens of
//! thousands of mostly idle connections, the mio example (one thread) or
//! the tokio `echo_server` hold one in about 2 KiB (3 KiB with
//! compression).
//!
//! **Limits.** Every accepted connection gets a thread that reads its
//! upgrade request, answered with 408 past `HANDSHAKE_TIMEOUT`. Only once
//! the request is in does it take one of `MAX_CONNECTIONS` places (503 if
//! none is left): clients that send half a request and stall cannot take
//! the places of upgraded connections, and a new client is served while
//! thousands of them wait for their 408. Requests being read have a limit
//! of their own, `MAX_HANDSHAKES` (past it, 503 at once, without a thread).
//!
//! Memory: an idle connection holds no read buffer. Its thread waits for
//! input with a one-byte `peek`, then borrows one of the buffers the
//! threads share (`ReadBuffer`) for the read and gives it back before it
//! waits again.
//!
//! Timers: the socket's read and write timeouts are set to the time left
//! until the connection's next deadline (`handle_timeout`), so a blocked
//! read or write wakes up in time to send a keepalive ping, give up on a
//! silent peer, or end a closing handshake that does not finish.
//!
//! Backpressure: each thread writes out everything it queued (the write
//! blocks while the peer does not read) before it reads again, so a peer
//! that does not read is no longer read either; TCP flow control then slows
//! the sender. Memory per connection is bounded by one read and
//! `Config::max_message_len`. Close: once the connection is `Closed`, the
//! server shuts down its sending side first, then reads and drops what the
//! peer still sends until its EOF or `LINGER_TIMEOUT`, and drops the socket.

mod support;

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use wsproto::handshake::{Request, RequestError, Response, ServerHandshake};
use wsproto::{Config, State};

use support::{DEFAULT_ADDR, LINGER_TIMEOUT, Outcome, READ_CHUNK};

/// Upgraded connections served at once; past this, an upgrade request is
/// answered with 503.
const MAX_CONNECTIONS: usize = 10_000;
/// Connections whose upgrade request is still being read; past this, new
/// connections are answered with 503 at once.
const MAX_HANDSHAKES: usize = 10_000;
/// Read buffers kept for reuse once given back: the most threads that
/// commonly read at the same moment. Past it, a buffer given back is freed.
const SPARE_READ_BUFFERS: usize = 64;

fn main() -> io::Result<()> {
    let addr = std::env::args().skip(1).last();
    let listener = TcpListener::bind(addr.as_deref().unwrap_or(DEFAULT_ADDR))?;
    println!("echo server listening on ws://{}/", listener.local_addr()?);
    serve(listener)
}

/// Accepts connections until the process ends, one thread each.
pub fn serve(listener: TcpListener) -> ! {
    let handshakes = Arc::new(AtomicUsize::new(0));
    let connections = Arc::new(AtomicUsize::new(0));
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
        // Echoes go out as they are written, not held back by Nagle
        // behind an earlier one the peer has not acknowledged yet.
        let _ = tcp.set_nodelay(true);
        let Some(reading) = Slot::take(&handshakes, MAX_HANDSHAKES) else {
            refuse_busy_now(&tcp);
            eprintln!("{peer}: refused with 503: too many upgrade requests being read");
            continue;
        };
        let connections = Arc::clone(&connections);
        // `Builder::spawn` reports failure instead of panicking; the slot
        // and the socket are then dropped with the closure.
        let spawned = thread::Builder::new().spawn(move || {
            let outcome = serve_connection(tcp, reading, &connections);
            eprintln!("{peer}: {outcome}");
        });
        if let Err(error) = spawned {
            eprintln!("{peer}: no thread to serve it: {error}");
        }
    }
}

/// One of a limited number of places, given back when dropped (even by a
/// panicking thread).
struct Slot(Arc<AtomicUsize>);

impl Slot {
    fn take(taken: &Arc<AtomicUsize>, max: usize) -> Option<Slot> {
        let slot = Slot(Arc::clone(taken));
        (taken.fetch_add(1, Ordering::Relaxed) < max).then_some(slot)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A read buffer of `READ_CHUNK` bytes, borrowed from those the threads
/// share and given back when dropped. A thread holds one only from the
/// moment input is waiting until it has been fed to its connection.
struct ReadBuffer(Vec<u8>);

static SPARE: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

impl ReadBuffer {
    fn take() -> ReadBuffer {
        let spare = SPARE.lock().unwrap_or_else(PoisonError::into_inner).pop();
        ReadBuffer(spare.unwrap_or_else(|| vec![0; READ_CHUNK]))
    }
}

impl Drop for ReadBuffer {
    fn drop(&mut self) {
        let mut spare = SPARE.lock().unwrap_or_else(PoisonError::into_inner);
        if spare.len() < SPARE_READ_BUFFERS {
            spare.push(std::mem::take(&mut self.0));
        }
    }
}

/// Answers 503 without reading the request or waiting: the accept loop must
/// not block. Best effort: if the request is already in, the close may turn
/// into a reset that the client sees instead of the 503.
fn refuse_busy_now(mut tcp: &TcpStream) {
    let _ = tcp.set_nonblocking(true);
    let _ = tcp.write(&busy().to_bytes());
}

/// The 503 of a full server.
fn busy() -> Response {
    Response::new(503)
        .map(|busy| busy.body("too many connections"))
        .unwrap_or_else(|_| Response::internal_error())
}

/// One connection: the upgrade request (holding a place among those being
/// read), a place among the upgraded connections, then echo until it is
/// closed.
fn serve_connection(mut tcp: TcpStream, reading: Slot, connections: &Arc<AtomicUsize>) -> Outcome {
    let config = support::config();
    let request = match read_request(&mut tcp, &config) {
        Ok(request) => request,
        Err(outcome) => return outcome,
    };
    drop(reading);
    let Some(_place) = Slot::take(connections, MAX_CONNECTIONS) else {
        // The request has been read, so the 503 arrives whole.
        if let Err(error) = tcp.write_all(&busy().to_bytes()) {
            return error.into();
        }
        linger(&mut tcp);
        return Outcome::Busy;
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
            linger(&mut tcp);
            return outcome.unwrap_or(Outcome::Closed(None));
        }
        match read_before(&mut tcp, deadline) {
            Ok(None) => conn.recv_eof(),
            Ok(Some((buf, n))) => conn.recv(&buf.0[..n]),
            Err(error) if timed_out(&error) => {}
            Err(error) => return error.into(),
        }
    }
}

/// Reads the upgrade request, until `Config::handshake_timeout` runs out
/// (the first `handle_timeout` starts the clock). A bad request, or none in
/// time, is answered with its HTTP status (408 for the latter).
fn read_request(tcp: &mut TcpStream, config: &Config) -> Result<Request, Outcome> {
    let mut handshake = ServerHandshake::new(config);
    loop {
        let deadline = match handshake.handle_timeout(Instant::now()) {
            Ok(deadline) => deadline,
            Err(error) => return Err(refuse(tcp, error)),
        };
        let (buf, n) = match read_before(tcp, deadline) {
            Ok(None) => return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into()),
            Ok(Some(read)) => read,
            Err(error) if timed_out(&error) => continue, // answered above
            Err(error) => return Err(error.into()),
        };
        match handshake.recv(&buf.0[..n]) {
            Ok(Some(request)) => return Ok(request),
            Ok(None) => {}
            Err(error) => return Err(refuse(tcp, error)),
        }
    }
}

/// Answers a refused upgrade with its HTTP status, then lingers.
fn refuse(tcp: &mut TcpStream, error: RequestError) -> Outcome {
    if let Err(error) = tcp.write_all(&error.response().to_bytes()) {
        return error.into();
    }
    linger(tcp);
    Outcome::Refused(error)
}

/// Ends our side of the stream, then reads (and drops) what the peer still
/// sends until it closes too or `LINGER_TIMEOUT` passes, so that our last
/// bytes are not destroyed by a reset.
fn linger(tcp: &mut TcpStream) {
    let deadline = Instant::now() + LINGER_TIMEOUT;
    let _ = tcp.shutdown(Shutdown::Write);
    while let Ok(Some(_)) = read_before(tcp, Some(deadline)) {}
}

/// Waits for input, then reads what is there into a borrowed
/// [`ReadBuffer`]: `None` at the end of the stream. Fails with `TimedOut`
/// once `deadline` has passed (`None`: waits as long as it takes). The
/// wait is a one-byte `peek`, so a thread that waits holds no buffer; once
/// it returns, input is waiting and the read does not block.
///
/// The read timeout is set to the time left before every wait: a fixed one
/// would restart with each byte, and a peer sending one byte at a time
/// would never time out.
fn read_before(
    tcp: &mut TcpStream,
    deadline: Option<Instant>,
) -> io::Result<Option<(ReadBuffer, usize)>> {
    loop {
        tcp.set_read_timeout(time_left(deadline)?)?;
        match tcp.peek(&mut [0]) {
            Ok(0) => return Ok(None),
            Ok(_) => break,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    let mut buf = ReadBuffer::take();
    loop {
        match tcp.read(&mut buf.0) {
            Ok(0) => return Ok(None),
            Ok(n) => return Ok(Some((buf, n))),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
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
