//! What the driver's benches share: the three echo servers (wsproto-tokio,
//! tokio-tungstenite, fastwebsockets), the load client's handshake and
//! frames, and the process limits and clocks they read.
//!
//! Every server accepts the upgrade in the task the listener spawned, then
//! spawns the echo loop as a task of its own that holds only the
//! `WebSocket`: the handshake's buffers and futures are gone by the time
//! the loop waits (the idle-memory bench counts what that task holds), and
//! the throughput bench never times a handshake.

use std::error::Error;
use std::future::poll_fn;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::task::Poll;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wsproto::handshake::{Accept, ServerHandshake};
use wsproto::{CloseCode, Config, Connection, EntropyError, EntropySource, Role};
use wsproto_tokio::{Acceptor, Message};

/// The three libraries, in the order of the tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    WsprotoTokio,
    Tungstenite,
    Fastwebsockets,
}

pub const KINDS: [Kind; 3] = [Kind::WsprotoTokio, Kind::Tungstenite, Kind::Fastwebsockets];

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::WsprotoTokio => "wsproto-tokio",
            Kind::Tungstenite => "tokio-tungstenite",
            Kind::Fastwebsockets => "fastwebsockets",
        }
    }

    pub fn from_name(name: &str) -> Option<Kind> {
        KINDS.into_iter().find(|kind| kind.name() == name)
    }
}

type BoxError = Box<dyn Error + Send + Sync>;

/// Accepts the upgrade on `tcp` with `kind`'s library and its best
/// configuration, then spawns the echo loop; `failed` is told how a
/// connection that did not end with a clean close ended.
pub async fn accept_and_spawn(kind: Kind, tcp: TcpStream, failed: Failed) {
    let _ = tcp.set_nodelay(true);
    let refused = match kind {
        Kind::WsprotoTokio => match Acceptor::new().accept(tcp).await {
            Ok(ws) => return spawn_loop(wsproto_tokio_echo(ws, failed)),
            Err(error) => error.to_string(),
        },
        Kind::Tungstenite => match tokio_tungstenite::accept_async(tcp).await {
            Ok(ws) => return spawn_loop(tungstenite_echo(ws, failed)),
            Err(error) => error.to_string(),
        },
        Kind::Fastwebsockets => match fastwebsockets_accept(tcp).await {
            Ok(ws) => return spawn_loop(fastwebsockets_echo(ws, failed)),
            Err(error) => error.to_string(),
        },
    };
    failed(kind, format!("handshake: {refused}"));
}

/// Told how a server connection ended when it did not end cleanly.
pub type Failed = fn(Kind, String);

/// Spawns `task`, the loop of one connection, and records its size.
pub fn spawn_loop(task: impl Future<Output = ()> + Send + 'static) {
    LOOP_FUTURE_SIZE.store(size_of_val(&task), Relaxed);
    tokio::spawn(task);
}

/// The size of the last loop's future as spawned (tokio allocates a task
/// with its future inline): for the idle-memory bench's table.
pub static LOOP_FUTURE_SIZE: AtomicUsize = AtomicUsize::new(0);

// The loops are `async move` blocks, not `async fn`s: an `async fn` keeps
// its arguments twice in its future (rust-lang/rust#62958), which would
// count each library's socket type twice in the idle-memory bench. Hence
// `allow(clippy::manual_async_fn)`.

/// wsproto-tokio, as its echo server example: `recv`, `feed` each message;
/// the next `recv` writes out everything fed before it waits.
/// Over any transport (a hyper upgraded HTTP/2 stream in `h2_echo`).
#[allow(clippy::manual_async_fn)]
pub fn wsproto_tokio_echo<IO>(
    mut ws: wsproto_tokio::WebSocket<IO>,
    failed: Failed,
) -> impl Future<Output = ()> + Send + 'static
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    async move {
        let ended = async {
            while let Some(message) = ws.recv().await {
                // Pings are answered and the close echoed by the driver.
                if let message @ (Message::Text(_) | Message::Binary(_)) = message? {
                    ws.feed(message).await?;
                }
            }
            Ok::<_, wsproto_tokio::Error>(())
        };
        if let Err(error) = ended.await {
            failed(Kind::WsprotoTokio, error.to_string());
        }
    }
}

/// tokio-tungstenite, idiomatically: `next` and `feed` for each message,
/// `flush` once no further message is immediately ready (what
/// `StreamExt::forward` does). Its default configuration (128 KiB read and
/// write buffers) is its fastest.
#[allow(clippy::manual_async_fn)]
fn tungstenite_echo(
    mut ws: tokio_tungstenite::WebSocketStream<TcpStream>,
    failed: Failed,
) -> impl Future<Output = ()> + Send + 'static {
    async move {
        let ended = async {
            'connection: loop {
                let mut next = ws.next().await;
                loop {
                    // The end: the peer's close was answered, the stream ended.
                    let Some(message) = next else {
                        break 'connection;
                    };
                    let message = message?;
                    // Pings and the close are answered by tungstenite
                    // itself, with the next flush.
                    if message.is_text() || message.is_binary() {
                        ws.feed(message).await?;
                    }
                    // Another message already here? Echo it before flushing.
                    match poll_fn(|cx| Poll::Ready(ws.poll_next_unpin(cx))).await {
                        Poll::Ready(message) => next = message,
                        Poll::Pending => break,
                    }
                }
                ws.flush().await?;
            }
            Ok::<_, tokio_tungstenite::tungstenite::Error>(())
        };
        if let Err(error) = ended.await {
            failed(Kind::Tungstenite, error.to_string());
        }
    }
}

/// fastwebsockets' upgrade, answered by the core's `ServerHandshake`
/// (fastwebsockets leaves HTTP to hyper), in a function of its own so that
/// its buffer is freed before the echo loop starts.
async fn fastwebsockets_accept(
    mut tcp: TcpStream,
) -> Result<fastwebsockets::FragmentCollector<TcpStream>, BoxError> {
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
    // fastwebsockets cannot be handed bytes read past the request; the
    // load clients send none before the response.
    if !request.leftover().is_empty() {
        return Err("frames sent with the upgrade request".into());
    }
    tcp.write_all(&request.accept(&Accept::new())?.to_bytes())
        .await?;
    let mut ws = fastwebsockets::WebSocket::after_handshake(tcp, fastwebsockets::Role::Server);
    // Its defaults, spelled out: pings and the close answered inside
    // `read_frame`; vectored writes (header and payload in one `writev`)
    // for payloads over 1 KiB, one copy into its write buffer below that.
    ws.set_auto_close(true);
    ws.set_auto_pong(true);
    ws.set_writev(true);
    ws.set_writev_threshold(1024);
    Ok(fastwebsockets::FragmentCollector::new(ws))
}

/// fastwebsockets, as its echo example: whole messages from a
/// `FragmentCollector`, one `write_frame` per message (it has no way to
/// queue without writing).
#[allow(clippy::manual_async_fn)]
fn fastwebsockets_echo(
    mut ws: fastwebsockets::FragmentCollector<TcpStream>,
    failed: Failed,
) -> impl Future<Output = ()> + Send + 'static {
    use fastwebsockets::{Frame, OpCode};
    async move {
        let ended = async {
            loop {
                let frame = ws.read_frame().await?;
                match frame.opcode {
                    // Already answered (auto close).
                    OpCode::Close => return Ok(()),
                    OpCode::Text | OpCode::Binary => {
                        ws.write_frame(Frame::new(true, frame.opcode, None, frame.payload))
                            .await?;
                    }
                    // Pings are answered (auto pong).
                    _ => {}
                }
            }
        };
        if let Err(error) = ended.await {
            let error: fastwebsockets::WebSocketError = error;
            failed(Kind::Fastwebsockets, error.to_string());
        }
    }
}

// ---------------------------------------------------------------------------
// The load clients' side: the upgrade request and pre-encoded frames.

/// The upgrade request of RFC 6455 section 1.3 (no extension offered, so
/// no server compresses).
pub fn upgrade_request(addr: std::net::SocketAddr) -> Vec<u8> {
    format!(
        "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .into_bytes()
}

/// Checks a whole response head (through its blank line): 101 with the
/// accept value for the key of [`upgrade_request`].
pub fn check_upgrade_response(head: &[u8]) -> io::Result<()> {
    let text = String::from_utf8_lossy(head);
    if !text.starts_with("HTTP/1.1 101") || !text.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") {
        return Err(invalid(format!("upgrade refused: {text}")));
    }
    Ok(())
}

/// Servers send nothing after their response until the client sends a
/// frame, so a response head read in pieces ends at its blank line.
pub const MAX_RESPONSE_HEAD: usize = 16 << 10;

pub fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

/// A fixed masking key: the client's frames are encoded once, up front.
struct FixedMask;

impl EntropySource for FixedMask {
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), EntropyError> {
        for (byte, key) in dest.iter_mut().zip([0x37, 0xfa, 0x21, 0x3d].iter().cycle()) {
            *byte = *key;
        }
        Ok(())
    }
}

/// Everything a load client sends and expects for one message size,
/// encoded by the core's client `Connection`.
pub struct Frames {
    /// One masked binary frame, as the client sends it.
    pub frame: Vec<u8>,
    /// The server's echo: the same message, unmasked.
    pub echo: Vec<u8>,
    /// A masked close frame (1000).
    pub close: Vec<u8>,
}

impl Frames {
    pub fn encode(size: usize) -> Frames {
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
        Frames { frame, echo, close }
    }

    /// Checks a close echo's head (`0x88`, a payload of at most 125 bytes);
    /// returns its payload length.
    pub fn close_echo_len(head: [u8; 2]) -> io::Result<usize> {
        if head[0] != 0x88 || head[1] > 125 {
            return Err(invalid(format!("expected a close echo, got {head:02x?}")));
        }
        Ok(usize::from(head[1]))
    }
}

fn take_transmit(conn: &mut Connection) -> Vec<u8> {
    let bytes = conn.pending_transmit().to_vec();
    conn.advance_transmit(bytes.len());
    bytes
}

// ---------------------------------------------------------------------------
// The process: descriptors, clocks, memory.

/// A number from the environment variable `name`, or `default` if unset.
pub fn setting(name: &str, default: usize) -> usize {
    std::env::var(name).map_or(default, |value| {
        value
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value}: not a number"))
    })
}

/// Raises the soft limit on open descriptors to at least `needed` (and the
/// hard limit too when it is lower and the process may). Both ends of every
/// connection are in this process: two descriptors each.
pub fn raise_nofile(needed: u64) -> Result<(), String> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid `rlimit` for the call to fill.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(format!("getrlimit: {}", io::Error::last_os_error()));
    }
    if limit.rlim_cur >= needed {
        return Ok(());
    }
    let wanted = libc::rlimit {
        rlim_cur: needed,
        rlim_max: limit.rlim_max.max(needed),
    };
    // SAFETY: `wanted` is a valid `rlimit`.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) } != 0 {
        return Err(format!(
            "cannot raise RLIMIT_NOFILE to {needed} (soft {}, hard {}): {}; \
             raise it first (`ulimit -n {needed}`, as root for a hard limit this low)",
            limit.rlim_cur,
            limit.rlim_max,
            io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// The CPU time a thread has used, by its pthread id (any thread of this
/// process, running or not).
pub fn thread_cpu_time(thread: libc::pthread_t) -> std::time::Duration {
    let mut clock: libc::clockid_t = 0;
    // SAFETY: `thread` is a live thread of this process (the benches keep
    // theirs running until the end), `clock` a valid out-pointer.
    if unsafe { libc::pthread_getcpuclockid(thread, &mut clock) } != 0 {
        return std::time::Duration::ZERO;
    }
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `clock` was just given for this thread; `now` is valid.
    if unsafe { libc::clock_gettime(clock, &mut now) } != 0 {
        return std::time::Duration::ZERO;
    }
    std::time::Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// The calling thread's pthread id.
pub fn current_thread() -> libc::pthread_t {
    // SAFETY: always safe to call.
    unsafe { libc::pthread_self() }
}
