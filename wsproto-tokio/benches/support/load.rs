//! The echo bench's load generator: one thread, one epoll loop (mio,
//! edge-triggered), the same for every server.
//!
//! Each measurement's connections are opened, upgraded and checked with
//! blocking `std::net` calls (the first echo of each compared byte for
//! byte), then switched to non-blocking and driven from one `mio::Poll`:
//!
//! - many connections, one message in flight on each: a frame is written,
//!   the echo is read up to its known length and no further (so no read
//!   ends in `EAGAIN`: the server sends nothing else), and the next frame
//!   is written at once;
//! - one pipelined connection: up to [`WINDOW`] frames in flight, written
//!   in one `write` whenever credits came back; reads drain the socket and
//!   return one credit per complete echo.
//!
//! Per message that is one `write` and about one `read`, with `epoll_wait`
//! shared by every connection ready at once; nothing is decoded or
//! allocated (an echo of a known message has a known length). Each server
//! does at least as many system calls (tokio reads until `EAGAIN` before it
//! waits) plus the WebSocket work, so the load thread is the cheaper side,
//! if not by much on loopback (a `write` pays for the receiver's TCP work
//! too).
//!
//! The loop never sleeps: `epoll_wait` is called with a zero timeout, so
//! no server ever pays, inside its own `write`, for waking the load (see
//! the bench's doc for why that decided rows).
//!
//! Then every connection is closed properly (a close frame, its echo, the
//! server's end of TCP), blocking again.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream as StdTcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use crate::support::{self, Frames, invalid};

/// Messages in flight on the pipelined connection.
pub const WINDOW: usize = 100;
/// Blocking reads and writes (setup and close) fail after this long, and
/// the event loop gives up this long after it was told to stop: a stalled
/// server fails its measurement instead of hanging the bench.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// What the load thread and the controller share.
#[derive(Default)]
pub struct Shared {
    /// Every connection is open, upgraded and checked.
    pub ready: AtomicBool,
    /// Echoes received (complete).
    pub done: AtomicU64,
    /// The timed window is over: send nothing more, finish, close.
    pub stop: AtomicBool,
    /// The load thread's pthread id, for its CPU time.
    pub thread: AtomicU64,
}

/// The load of one measurement.
#[derive(Clone, Copy)]
pub enum Load {
    /// This many connections, one message in flight on each.
    Connections(usize),
    /// One connection, up to [`WINDOW`] messages in flight.
    Pipelined,
}

/// Runs a measurement's load until `shared.stop`, on the calling thread.
pub fn run(addr: SocketAddr, load: Load, frames: &Frames, shared: &Shared) -> io::Result<()> {
    shared
        .thread
        .store(support::current_thread() as u64, Relaxed);
    let count = match load {
        Load::Connections(n) => n,
        Load::Pipelined => 1,
    };
    let mut streams = Vec::with_capacity(count);
    for _ in 0..count {
        streams.push(open(addr, frames)?);
    }
    let poll = Poll::new()?;
    let mut streams: Vec<TcpStream> = streams
        .into_iter()
        .map(|stream| {
            stream.set_nonblocking(true)?;
            Ok(TcpStream::from_std(stream))
        })
        .collect::<io::Result<_>>()?;
    for (i, stream) in streams.iter_mut().enumerate() {
        poll.registry()
            .register(stream, Token(i), Interest::READABLE | Interest::WRITABLE)?;
    }
    shared.ready.store(true, Relaxed);
    match load {
        Load::Connections(_) => ping_pong(poll, &mut streams, frames, shared)?,
        Load::Pipelined => pipelined(poll, &mut streams[0], frames, shared)?,
    }
    for stream in streams {
        close(StdTcpStream::from(stream), frames)?;
    }
    Ok(())
}

/// Connects, upgrades, and checks the first echo byte for byte.
fn open(addr: SocketAddr, frames: &Frames) -> io::Result<StdTcpStream> {
    let mut tcp = StdTcpStream::connect(addr)?;
    tcp.set_nodelay(true)?;
    tcp.set_read_timeout(Some(IO_TIMEOUT))?;
    tcp.set_write_timeout(Some(IO_TIMEOUT))?;
    tcp.write_all(&support::upgrade_request(addr))?;
    // Servers send nothing after the response until the client sends a
    // frame, so reading past the blank line cannot take a frame's bytes.
    let mut head = Vec::new();
    let mut buf = [0; 1024];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tcp.read(&mut buf)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        head.extend_from_slice(&buf[..n]);
        if head.len() > support::MAX_RESPONSE_HEAD {
            return Err(invalid("response head too long".to_owned()));
        }
    }
    support::check_upgrade_response(&head)?;
    tcp.write_all(&frames.frame)?;
    let mut first = vec![0; frames.echo.len()];
    tcp.read_exact(&mut first)?;
    if first != frames.echo {
        return Err(invalid(format!(
            "wrong first echo: {:02x?}...",
            &first[..first.len().min(16)]
        )));
    }
    Ok(tcp)
}

/// Sends a close, reads its echo, then waits for the server to end TCP.
fn close(mut tcp: StdTcpStream, frames: &Frames) -> io::Result<()> {
    tcp.set_nonblocking(false)?;
    tcp.write_all(&frames.close)?;
    let mut head = [0; 2];
    tcp.read_exact(&mut head)?;
    let mut payload = vec![0; Frames::close_echo_len(head)?];
    tcp.read_exact(&mut payload)?;
    let mut rest = [0; 64];
    match tcp.read(&mut rest)? {
        0 => Ok(()),
        n => Err(invalid(format!("{n} bytes after the close echo"))),
    }
}

/// Writes `data[data.len() - *unsent..]` until it is written or the socket
/// is full (a writable event continues).
fn write_some(stream: &mut TcpStream, data: &[u8], unsent: &mut usize) -> io::Result<()> {
    while *unsent > 0 {
        match stream.write(&data[data.len() - *unsent..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => *unsent -= n,
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

/// Waits for events; after the stop, gives up once `IO_TIMEOUT` passed.
fn wait(
    poll: &mut Poll,
    events: &mut Events,
    stopped: &mut Option<Instant>,
    stop: bool,
) -> io::Result<()> {
    if stop {
        let since = *stopped.get_or_insert_with(Instant::now);
        if since.elapsed() > IO_TIMEOUT {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "echoes stopped coming",
            ));
        }
    }
    // A zero timeout: the load busy-polls and is never asleep when an
    // echo arrives.
    match poll.poll(events, Some(Duration::ZERO)) {
        Err(error) if error.kind() == io::ErrorKind::Interrupted => Ok(()),
        other => other,
    }
}

/// Many connections, one message in flight on each, until stopped.
fn ping_pong(
    mut poll: Poll,
    streams: &mut [TcpStream],
    frames: &Frames,
    shared: &Shared,
) -> io::Result<()> {
    /// One connection's progress through its message.
    struct Conn {
        /// Bytes of the echo read.
        got: usize,
        /// Bytes of the frame not yet written.
        unsent: usize,
        /// A message is out (false once stopped and its echo is in).
        in_flight: bool,
    }
    let (frame, echo_len) = (&frames.frame[..], frames.echo.len());
    let mut conns: Vec<Conn> = Vec::with_capacity(streams.len());
    for stream in streams.iter_mut() {
        let mut unsent = frame.len();
        write_some(stream, frame, &mut unsent)?;
        conns.push(Conn {
            got: 0,
            unsent,
            in_flight: true,
        });
    }
    let mut in_flight = streams.len();
    let mut buf = vec![0; echo_len];
    let mut events = Events::with_capacity(1024);
    let mut stopped = None;
    while in_flight > 0 {
        wait(
            &mut poll,
            &mut events,
            &mut stopped,
            shared.stop.load(Relaxed),
        )?;
        for event in &events {
            let i = event.token().0;
            let (stream, conn) = (&mut streams[i], &mut conns[i]);
            if conn.unsent > 0 {
                write_some(stream, frame, &mut conn.unsent)?;
            }
            if !conn.in_flight {
                continue;
            }
            // The echo, and nothing past it: no read ends in EAGAIN.
            while conn.got < echo_len {
                match stream.read(&mut buf[conn.got..]) {
                    Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                    Ok(n) => conn.got += n,
                    Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                    Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                    Err(error) => return Err(error),
                }
            }
            if conn.got == echo_len {
                conn.got = 0;
                shared.done.fetch_add(1, Relaxed);
                if shared.stop.load(Relaxed) {
                    conn.in_flight = false;
                    in_flight -= 1;
                } else {
                    conn.unsent = frame.len();
                    write_some(stream, frame, &mut conn.unsent)?;
                }
            }
        }
    }
    Ok(())
}

/// One connection, up to `WINDOW` messages in flight, until stopped and
/// every echo is in.
fn pipelined(
    mut poll: Poll,
    stream: &mut TcpStream,
    frames: &Frames,
    shared: &Shared,
) -> io::Result<()> {
    let batch = frames.frame.repeat(WINDOW);
    let (frame_len, echo_len) = (frames.frame.len() as u64, frames.echo.len() as u64);
    // Messages sent (whole or in part) and echoed; bytes of echoes read.
    let (mut sent, mut received, mut bytes) = (0u64, 0u64, 0u64);
    // The batch being written: its length and what is not written yet.
    let (mut batch_len, mut unsent) = (0, 0);
    let mut buf = vec![0; 256 << 10];
    let mut events = Events::with_capacity(16);
    let mut stopped = None;
    loop {
        let stop = shared.stop.load(Relaxed);
        if unsent == 0 && !stop {
            let credits = WINDOW as u64 - (sent - received);
            if credits > 0 {
                batch_len = (credits * frame_len) as usize;
                unsent = batch_len;
                sent += credits;
            }
        }
        write_some(stream, &batch[..batch_len], &mut unsent)?;
        if stop && unsent == 0 && received == sent {
            break;
        }
        wait(&mut poll, &mut events, &mut stopped, stop)?;
        if events.iter().any(|event| event.is_readable()) {
            // Edge-triggered: read until the socket is empty.
            loop {
                match stream.read(&mut buf) {
                    Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                    Ok(n) => bytes += n as u64,
                    Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                    Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                    Err(error) => return Err(error),
                }
            }
            let now = bytes / echo_len;
            if now > sent {
                return Err(invalid("more echoes than messages".to_owned()));
            }
            shared.done.fetch_add(now - received, Relaxed);
            received = now;
        }
    }
    if bytes != received * echo_len {
        return Err(invalid(
            "echoes out of step with the messages sent".to_owned(),
        ));
    }
    Ok(())
}
