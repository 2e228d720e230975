//! Loopback echo throughput: wsproto against tokio-tungstenite and
//! fastwebsockets, in messages per second.
//!
//! ```sh
//! cargo bench --bench echo                 # everything, about a minute
//! cargo bench --bench echo -- pipelined    # only names containing "pipelined"
//! ```
//!
//! Names are `mode/size/server`, e.g. `ping-pong/16B/wsproto`; the filter is
//! a substring of them. CI only builds this (`cargo bench --no-run`).
//!
//! What is measured: three echo servers on 127.0.0.1, each on its own
//! single-threaded tokio runtime, served by ONE common load client so that
//! only the servers differ:
//!
//! - wsproto, driven by a tokio loop written by hand on the core (its
//!   per-connection loop in `benches/support/tokio_echo.rs`, its echo and
//!   accept code in `examples/support`, shared with the blocking and mio
//!   examples; the driver crate has its own bench): write everything queued, then read up to 64 KiB
//!   and feed it.
//! - tokio-tungstenite, idiomatically: `accept_async`, then `next` and
//!   `feed` for each message, and `flush` once no further message is
//!   immediately ready (what `StreamExt::forward` does). In ping-pong that is
//!   a `send` per message; pipelined, echoes are written in batches.
//! - fastwebsockets, as its echo example: a `FragmentCollector`, one
//!   `write_frame` per message. Its upgrade is answered by wsproto's
//!   `ServerHandshake` (fastwebsockets leaves HTTP to hyper); handshakes are
//!   never timed.
//!
//! The client is a blocking `std::net::TcpStream` (no async runtime) that
//! writes pre-encoded masked binary frames and counts the echoed bytes (an
//! echo of a known message has a known length). The first echo of every
//! connection is compared byte for byte, so a broken server cannot produce a
//! fast number. Modes, each for 16 B and 16 KiB messages:
//!
//! - ping-pong: one message, wait for its echo, repeat (latency bound);
//! - pipelined: up to 100 messages in flight (throughput bound). A writer
//!   thread sends while the reader counts echoes; each echo gives the writer
//!   one more credit, so it never runs more than 100 messages ahead and
//!   neither side can fill the socket buffers and deadlock.
//!
//! Each measurement is a fresh connection: handshake, check, 1,000 warm-up
//! messages, then the timed run, which stops after a fixed number of
//! messages or a time cap, whichever comes first (a capped result is marked
//! `*`). The three servers take turns, three times; the table shows the
//! median. No server uses `tokio::task::unconstrained` (fastwebsockets'
//! example does), so all three run under tokio's cooperative budget.

// The example's support module, so the bench echoes with the example's code.
#[allow(dead_code)]
#[path = "../examples/support/mod.rs"]
mod support;
// A tokio drive loop written by hand on the core (what the tokio echo
// example was before the driver crate, `wsproto-tokio`).
#[path = "support/tokio_echo.rs"]
mod tokio_echo;

use std::error::Error;
use std::future::poll_fn;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream as StdTcpStream};
use std::sync::{Condvar, Mutex, mpsc};
use std::task::Poll;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use fastwebsockets::{FragmentCollector, Frame, OpCode, WebSocket};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use wsproto::handshake::{Accept, ServerHandshake};
use wsproto::{CloseCode, Config, Connection, EntropyError, EntropySource, Role};

use support::Outcome;

/// Messages in flight in the pipelined mode.
const WINDOW: usize = 100;
/// Untimed messages before each timed run: connection buffers, caches and
/// TCP windows settle.
const WARMUP: usize = 1_000;
/// Each timed run stops here even if its count is not reached.
const TIME_CAP: Duration = Duration::from_secs(4);
/// Timed runs per server and case; the median is reported.
const REPEATS: usize = 3;
/// A stalled server fails its measurement instead of hanging the bench.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    PingPong,
    Pipelined,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::PingPong => "ping-pong",
            Mode::Pipelined => "pipelined",
        }
    }
}

/// One row of the table.
struct Case {
    mode: Mode,
    size: usize,
    /// Messages per timed run: 0.3 to 1 s for the faster servers here.
    count: usize,
}

const CASES: [Case; 4] = [
    Case {
        mode: Mode::PingPong,
        size: 16,
        count: 40_000,
    },
    Case {
        mode: Mode::PingPong,
        size: 16 * 1024,
        count: 30_000,
    },
    Case {
        mode: Mode::Pipelined,
        size: 16,
        count: 2_000_000,
    },
    Case {
        mode: Mode::Pipelined,
        size: 16 * 1024,
        count: 60_000,
    },
];

fn size_name(size: usize) -> String {
    if size >= 1024 {
        format!("{}KiB", size / 1024)
    } else {
        format!("{size}B")
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Wsproto,
    Tungstenite,
    Fastwebsockets,
}

const KINDS: [Kind; 3] = [Kind::Wsproto, Kind::Tungstenite, Kind::Fastwebsockets];

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Wsproto => "wsproto",
            Kind::Tungstenite => "tokio-tungstenite",
            Kind::Fastwebsockets => "fastwebsockets",
        }
    }
}

fn main() {
    // cargo passes `--bench`; like criterion, the first other argument
    // filters measurements by name.
    let filter = std::env::args().skip(1).find(|arg| !arg.starts_with('-'));
    let selected = |case: &Case, kind: Kind| {
        let name = format!(
            "{}/{}/{}",
            case.mode.name(),
            size_name(case.size),
            kind.name()
        );
        filter.as_deref().is_none_or(|f| name.contains(f))
    };

    let servers: Vec<Server> = KINDS.iter().map(|&kind| Server::start(kind)).collect();
    println!(
        "{:<10} {:>6} {:>14} {:>18} {:>15} {:>14}",
        "mode", "size", "wsproto", "tokio-tungstenite", "fastwebsockets", "wsproto/best"
    );
    println!("{:<10} {:>6} {:>14}", "", "", "(messages/s)");
    for case in &CASES {
        if !KINDS.iter().any(|&kind| selected(case, kind)) {
            continue;
        }
        let frames = Frames::encode(case.size);
        let mut runs: Vec<Vec<Run>> = vec![Vec::new(); KINDS.len()];
        let mut failed = [false; KINDS.len()];
        // The servers take turns, so a slow phase of the machine hits all.
        for _ in 0..REPEATS {
            for (i, server) in servers.iter().enumerate() {
                if !selected(case, server.kind) || failed[i] {
                    continue;
                }
                match measure(server.addr, case, &frames) {
                    Ok(run) => runs[i].push(run),
                    Err(error) => {
                        eprintln!(
                            "{}/{}/{}: {error}",
                            case.mode.name(),
                            size_name(case.size),
                            server.kind.name()
                        );
                        failed[i] = true;
                    }
                }
            }
        }
        let medians: Vec<Option<Run>> = runs
            .iter()
            .zip(failed)
            .map(|(runs, failed)| (!failed).then(|| median(runs)).flatten())
            .collect();
        let cells: Vec<String> = medians.iter().map(cell).collect();
        let best_peer = medians[1..]
            .iter()
            .flatten()
            .map(Run::rate)
            .fold(None, |best: Option<f64>, rate| {
                Some(best.map_or(rate, |b| b.max(rate)))
            });
        let ratio = match (&medians[0], best_peer) {
            (Some(ours), Some(peer)) => format!("{:.2}", ours.rate() / peer),
            _ => "-".to_owned(),
        };
        println!(
            "{:<10} {:>6} {:>14} {:>18} {:>15} {:>14}",
            case.mode.name(),
            size_name(case.size),
            cells[0],
            cells[1],
            cells[2],
            ratio
        );
    }
    println!("(* = stopped by the {} s time cap)", TIME_CAP.as_secs());
    for server in servers {
        server.stop();
    }
}

// ---------------------------------------------------------------------------
// Results

#[derive(Clone, Copy)]
struct Run {
    messages: usize,
    elapsed: Duration,
    /// The time cap ended the run before its count.
    capped: bool,
}

impl Run {
    fn rate(&self) -> f64 {
        self.messages as f64 / self.elapsed.as_secs_f64()
    }
}

fn median(runs: &[Run]) -> Option<Run> {
    let mut sorted = runs.to_vec();
    sorted.sort_by(|a, b| a.rate().total_cmp(&b.rate()));
    sorted.get(sorted.len() / 2).copied()
}

fn cell(run: &Option<Run>) -> String {
    let Some(run) = run else {
        return "-".to_owned();
    };
    // Thousands separators: the columns are compared by eye.
    let digits = format!("{:.0}", run.rate());
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    if run.capped {
        out.push('*');
    }
    out
}

// ---------------------------------------------------------------------------
// The load client: blocking std I/O, pre-encoded frames.

/// A fixed masking key: the frames are encoded once, up front.
struct FixedMask;

impl EntropySource for FixedMask {
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), EntropyError> {
        for (byte, key) in dest.iter_mut().zip([0x37, 0xfa, 0x21, 0x3d].iter().cycle()) {
            *byte = *key;
        }
        Ok(())
    }
}

/// Everything the client sends and expects for one message size.
struct Frames {
    /// One masked binary frame, as the client sends it.
    frame: Vec<u8>,
    /// `WINDOW` copies of `frame`, to send a batch in one write.
    batch: Vec<u8>,
    /// The server's echo: the same message unmasked.
    echo: Vec<u8>,
    /// A masked close frame (1000).
    close: Vec<u8>,
}

impl Frames {
    fn encode(size: usize) -> Frames {
        let mut conn =
            Connection::with_entropy(Role::Client, Config::default(), Box::new(FixedMask));
        let payload: Vec<u8> = (0..size).map(|i| (i * 31 + 7) as u8).collect();
        conn.send_binary(&payload).expect("encode a message");
        let frame = take_transmit(&mut conn);
        conn.close(std::time::Instant::now(), CloseCode::NORMAL, "")
            .expect("encode a close");
        let close = take_transmit(&mut conn);

        let mut echo = vec![0x82]; // FIN, binary
        match size {
            0..=125 => echo.push(size as u8),
            126..=65535 => {
                echo.push(126);
                echo.extend_from_slice(&(size as u16).to_be_bytes());
            }
            _ => {
                echo.push(127);
                echo.extend_from_slice(&(size as u64).to_be_bytes());
            }
        }
        echo.extend_from_slice(&payload);
        // The client frame is the echo plus the mask bit and a 4-byte key.
        assert_eq!(frame.len(), echo.len() + 4, "unexpected client framing");
        Frames {
            batch: frame.repeat(WINDOW),
            frame,
            echo,
            close,
        }
    }
}

fn take_transmit(conn: &mut Connection) -> Vec<u8> {
    let bytes = conn.pending_transmit().to_vec();
    conn.advance_transmit(bytes.len());
    bytes
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

/// One measurement on a fresh connection: handshake, check, warm-up, the
/// timed run, close.
fn measure(addr: SocketAddr, case: &Case, frames: &Frames) -> io::Result<Run> {
    let mut stream = connect(addr)?;

    // The first echo must be exactly right before anything is counted.
    stream.write_all(&frames.frame)?;
    let mut first = vec![0; frames.echo.len()];
    stream.read_exact(&mut first)?;
    if first != frames.echo {
        return Err(invalid(format!(
            "wrong echo: {:02x?}...",
            &first[..first.len().min(16)]
        )));
    }

    let run = |stream: &mut StdTcpStream, count| match case.mode {
        Mode::PingPong => ping_pong(stream, frames, count),
        Mode::Pipelined => pipelined(stream, frames, count),
    };
    run(&mut stream, WARMUP)?;
    let timed = run(&mut stream, case.count)?;
    close(stream, frames)?;
    Ok(timed)
}

/// Connects and upgrades; the request is the one of RFC 6455 section 1.3.
fn connect(addr: SocketAddr) -> io::Result<StdTcpStream> {
    let mut stream = StdTcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let request = format!(
        "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    stream.write_all(request.as_bytes())?;

    // Servers send nothing after the response until we send a frame, so
    // reading past the blank line cannot take a frame's bytes.
    let mut response = Vec::new();
    let mut buf = [0; 1024];
    while !response.ends_with(b"\r\n\r\n") {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        response.extend_from_slice(&buf[..n]);
        if response.len() > 16 * 1024 {
            return Err(invalid("handshake response too long".to_owned()));
        }
    }
    let text = String::from_utf8_lossy(&response);
    // The accept value for this key, from RFC 6455 section 1.3.
    if !text.starts_with("HTTP/1.1 101") || !text.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") {
        return Err(invalid(format!("upgrade refused: {text}")));
    }
    Ok(stream)
}

/// One message at a time: the round-trip latency, inverted.
fn ping_pong(stream: &mut StdTcpStream, frames: &Frames, count: usize) -> io::Result<Run> {
    let mut echo = vec![0; frames.echo.len()];
    let start = Instant::now();
    let mut done = 0;
    while done < count && start.elapsed() < TIME_CAP {
        stream.write_all(&frames.frame)?;
        stream.read_exact(&mut echo)?;
        done += 1;
    }
    Ok(Run {
        messages: done,
        elapsed: start.elapsed(),
        capped: done < count,
    })
}

/// The writer's and the reader's shared state in the pipelined mode.
struct Window {
    /// Messages the writer may still send: `WINDOW` minus those in flight.
    credits: usize,
    /// Messages the writer has taken credit for (sent, or being sent).
    sent: usize,
    /// The reader has stopped timing: send nothing more.
    stop: bool,
    /// The writer will send nothing more.
    writer_done: bool,
}

/// Up to `WINDOW` messages in flight: a writer thread sends, in one write,
/// as many frames as it has credits for; the reader counts echoed bytes and
/// returns a credit per complete echo.
fn pipelined(stream: &mut StdTcpStream, frames: &Frames, count: usize) -> io::Result<Run> {
    let mut writer = stream.try_clone()?;
    let window = Mutex::new(Window {
        credits: WINDOW.min(count),
        sent: 0,
        stop: false,
        writer_done: false,
    });
    let changed = Condvar::new();
    let frame_len = frames.frame.len();
    let echo_len = frames.echo.len();

    thread::scope(|scope| {
        let start = Instant::now();
        let writer_thread = scope.spawn(|| {
            let result = (|| {
                loop {
                    let batch = {
                        let mut w = window.lock().unwrap();
                        while w.credits == 0 && !w.stop {
                            w = changed.wait(w).unwrap();
                        }
                        if w.stop || w.sent == count {
                            break;
                        }
                        let batch = w.credits.min(count - w.sent);
                        w.credits -= batch;
                        w.sent += batch;
                        batch
                    };
                    writer.write_all(&frames.batch[..batch * frame_len])?;
                }
                io::Result::Ok(())
            })();
            window.lock().unwrap().writer_done = true;
            changed.notify_all();
            result
        });

        let mut buf = vec![0; 64 * 1024];
        let mut bytes = 0;
        let mut received = 0;
        let mut timed = None;
        let read_result = loop {
            if timed.is_none() && (received >= count || start.elapsed() >= TIME_CAP) {
                timed = Some(Run {
                    messages: received,
                    elapsed: start.elapsed(),
                    capped: received < count,
                });
                window.lock().unwrap().stop = true;
                changed.notify_all();
            }
            if timed.is_some() {
                // Untimed: read back whatever is still in flight, so the
                // connection is clean for the next run or the close.
                let mut w = window.lock().unwrap();
                while !w.writer_done && w.sent == received {
                    w = changed.wait(w).unwrap();
                }
                if w.writer_done && w.sent == received {
                    break Ok(());
                }
            }
            let n = match stream.read(&mut buf) {
                Ok(0) => break Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => n,
                Err(error) => break Err(error),
            };
            bytes += n;
            let now = bytes / echo_len;
            let echoed = now - received;
            received = now;
            if echoed > 0 && timed.is_none() {
                window.lock().unwrap().credits += echoed;
                changed.notify_one();
            }
        };
        if read_result.is_err() {
            // Unblock the writer, wherever it waits.
            window.lock().unwrap().stop = true;
            changed.notify_all();
            let _ = stream.shutdown(Shutdown::Both);
        }
        let write_result = writer_thread.join().expect("writer thread panicked");
        read_result?;
        write_result?;
        if bytes != received * echo_len {
            return Err(invalid(
                "echoes out of step with the messages sent".to_owned(),
            ));
        }
        Ok(timed.expect("the loop ends only after timing"))
    })
}

/// Sends a close, reads its echo, then waits for the server to end the TCP
/// connection, so that it is gone before the next measurement starts.
fn close(mut stream: StdTcpStream, frames: &Frames) -> io::Result<()> {
    stream.write_all(&frames.close)?;
    let mut head = [0; 2];
    stream.read_exact(&mut head)?;
    if head[0] != 0x88 || head[1] > 125 {
        return Err(invalid(format!("expected a close echo, got {head:02x?}")));
    }
    let mut payload = vec![0; usize::from(head[1])];
    stream.read_exact(&mut payload)?;
    let mut rest = [0; 64];
    match stream.read(&mut rest)? {
        0 => Ok(()),
        n => Err(invalid(format!("{n} bytes after the close echo"))),
    }
}

// ---------------------------------------------------------------------------
// The servers

/// An echo server on its own single-threaded tokio runtime and thread.
struct Server {
    kind: Kind,
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    thread: JoinHandle<()>,
}

impl Server {
    fn start(kind: Kind) -> Server {
        let (addr_tx, addr_rx) = mpsc::channel();
        let (stop, mut stopped) = oneshot::channel::<()>();
        let thread = thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a tokio runtime");
            runtime.block_on(async move {
                let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
                addr_tx
                    .send(listener.local_addr().expect("local address"))
                    .expect("send the address");
                loop {
                    tokio::select! {
                        _ = &mut stopped => break,
                        accepted = listener.accept() => {
                            let (tcp, _) = accepted.expect("accept");
                            tcp.set_nodelay(true).expect("TCP_NODELAY");
                            tokio::spawn(serve(kind, tcp));
                        }
                    }
                }
            });
            // Dropping the runtime cancels any connection still open.
        });
        let addr = addr_rx.recv().expect("the server's address");
        Server {
            kind,
            addr,
            stop,
            thread,
        }
    }

    fn stop(self) {
        let _ = self.stop.send(());
        self.thread.join().expect("server thread panicked");
    }
}

/// One connection; anything but a clean close is logged (the client fails
/// that measurement too).
async fn serve(kind: Kind, tcp: TcpStream) {
    let failure = match kind {
        Kind::Wsproto => match tokio_echo::serve_connection(tcp).await {
            Outcome::Closed(Some(CloseCode::NORMAL)) => None,
            outcome => Some(outcome.to_string()),
        },
        Kind::Tungstenite => tungstenite_echo(tcp).await.err().map(|e| e.to_string()),
        Kind::Fastwebsockets => fastwebsockets_echo(tcp).await.err().map(|e| e.to_string()),
    };
    if let Some(failure) = failure {
        eprintln!("{} server: {failure}", kind.name());
    }
}

/// tokio-tungstenite: echo with `feed`, `flush` when no message is ready.
async fn tungstenite_echo(tcp: TcpStream) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    let mut ws = tokio_tungstenite::accept_async(tcp).await?;
    'connection: loop {
        let mut next = ws.next().await;
        loop {
            // The end: the peer's close was answered and the stream ended.
            let Some(message) = next else {
                break 'connection;
            };
            let message = message?;
            // Pings and the close are answered by tungstenite itself, with
            // the next flush.
            if message.is_text() || message.is_binary() {
                ws.feed(message).await?;
            }
            // Another message already here? Then echo it before flushing.
            match poll_fn(|cx| Poll::Ready(ws.poll_next_unpin(cx))).await {
                Poll::Ready(message) => next = message,
                Poll::Pending => break,
            }
        }
        ws.flush().await?;
    }
    Ok(())
}

/// fastwebsockets: the upgrade by wsproto, then its echo example's loop.
async fn fastwebsockets_echo(mut tcp: TcpStream) -> Result<(), Box<dyn Error + Send + Sync>> {
    let config = Config::default();
    let mut handshake = ServerHandshake::new(&config);
    let mut buf = vec![0; 4096];
    let request = loop {
        let n = tcp.read(&mut buf).await?;
        if n == 0 {
            return Err("EOF before the upgrade request".into());
        }
        if let Some(request) = handshake.recv(&buf[..n])? {
            break request;
        }
    };
    // fastwebsockets cannot be handed bytes read past the request; our
    // client sends none before the response.
    if !request.leftover().is_empty() {
        return Err("frames sent with the upgrade request".into());
    }
    tcp.write_all(&request.accept(&Accept::new())?.to_bytes())
        .await?;

    let mut ws = FragmentCollector::new(WebSocket::after_handshake(
        tcp,
        fastwebsockets::Role::Server,
    ));
    loop {
        let frame = ws.read_frame().await?;
        match frame.opcode {
            // Already answered by fastwebsockets (auto close).
            OpCode::Close => return Ok(()),
            OpCode::Text | OpCode::Binary => {
                ws.write_frame(Frame::new(true, frame.opcode, None, frame.payload))
                    .await?;
            }
            // Pings are answered by fastwebsockets (auto pong).
            _ => {}
        }
    }
}
