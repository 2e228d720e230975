//! A browser chat: every tab that opens the page joins one room.
//!
//! ```sh
//! cargo run --example chat                  # prints: open http://127.0.0.1:8080/
//! cargo run --example chat -- 127.0.0.1:0   # any free port (the browser test's way)
//! ```
//!
//! `GET /` is the page (`examples/chat.html`, built in); `/ws` is the
//! WebSocket, subprotocol `chat.v1`: each text message a client sends is one
//! chat line; the server sends lines such as `* you are guest-1`,
//! `* guest-2 joined`, `guest-2: hello` and `* guest-2 left`.
//!
//! Design: the crate's `ServerHandshake` only reads upgrade requests, so this
//! is a tiny HTTP server of its own. It reads the request head itself
//! (httparse, at most 16 KiB), routes by path, and hands `/ws` requests to the
//! crate with `Request::from_parts`, then feeds the bytes it read past the
//! head to the connection: the handover an existing HTTP server does, nothing
//! lost. Unknown paths get 404, other methods 405, bad upgrades the crate's
//! own 400/426/431. A client that does not offer `chat.v1` is refused with a
//! 400 saying so: what it would receive are chat.v1 lines, and a mismatch is
//! better seen at connect time than as garbled messages. A page from another
//! origin is refused with 403.
//!
//! The connection runs on the tokio driver (`WebSocket::from_connection`),
//! which answers pings and echoes closes on its own.
//!
//! Backpressure: each line is written out before the next is taken (a
//! write that takes over 10 s drops the client), and a client gets the room's
//! lines through a bounded queue of `QUEUE` lines. A client whose queue is
//! full is neither waited for (one slow tab must not stall the room) nor
//! buffered for: it is closed with 1013 "try again later", because falling
//! behind is a passing condition (a throttled background tab), not a broken
//! rule, and reconnecting is the right answer; 1008 would blame the client.
//! A client sending over 10 lines a second (bursts of 20) is the one breaking
//! a rule, so it is closed with 1008: else one fast sender would fill every
//! queue. Messages are text of at most 4 KiB (`Config`), so a client costs at
//! most `QUEUE` lines plus what one read (16 KiB) can make it queue.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use httparse::{Error::TooManyHeaders, Status};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::{Duration, Instant, sleep, timeout};
use wsproto::handshake::HttpVersion::{Http10, Http11};
use wsproto::handshake::{Accept, Headers, HttpVersion, Request, RequestError, Response};
use wsproto::{CloseCode, Config, State};
use wsproto_tokio::{Message, WebSocket};

const PAGE: &str = include_str!("chat.html");
const PROTOCOL: &str = "chat.v1";
const MAX_HEAD: usize = 16 << 10;
const MAX_HEADERS: usize = 64;
const MAX_MESSAGE: u64 = 4 << 10;
const QUEUE: usize = 64;
/// Each line costs this much of a sender's budget (so 10 lines a second)...
const PER_LINE: Duration = Duration::from_millis(100);
/// ... which may run this many lines ahead (a burst).
const BURST: u32 = 20;
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
const LINGER_TIMEOUT: Duration = Duration::from_secs(2);

/// The room: for each client in it, the queue of lines to send to it.
#[derive(Default)]
struct Room {
    next_id: AtomicU64,
    clients: Mutex<HashMap<u64, mpsc::Sender<Arc<str>>>>,
}

impl Room {
    fn clients(&self) -> MutexGuard<'_, HashMap<u64, mpsc::Sender<Arc<str>>>> {
        self.clients.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `line` for every client, never waiting: a client whose queue
    /// is full is dropped from the room, which closes its queue.
    fn broadcast(&self, line: &str) {
        let line: Arc<str> = line.into();
        self.clients()
            .retain(|_, queue| queue.try_send(line.clone()).is_ok());
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1);
    let listener = TcpListener::bind(addr.as_deref().unwrap_or("127.0.0.1:8080")).await?;
    println!("open http://{}/", listener.local_addr()?);
    let room = Arc::new(Room::default());
    loop {
        let Ok((tcp, peer)) = listener.accept().await else {
            sleep(Duration::from_millis(100)).await; // out of file descriptors, say
            continue;
        };
        let room = room.clone();
        tokio::spawn(async move { eprintln!("{peer}: {}", serve(tcp, &room).await) });
    }
}

/// One HTTP exchange: the page, a refusal, or an upgrade and then the chat.
/// Returns the log line.
async fn serve(mut tcp: TcpStream, room: &Room) -> String {
    let mut buf = Vec::new();
    let (head, len) = match timeout(HEAD_TIMEOUT, read_head(&mut tcp, &mut buf)).await {
        Ok(Ok(found)) => found,
        Ok(Err(_)) if buf.is_empty() => return "closed without a request".into(), // a preconnect
        Ok(Err(error)) => return refuse(tcp, error.response()).await,
        Err(_) => return "no request in time".into(),
    };
    let response = match (head.0.as_str(), head.1.split('?').next()) {
        ("GET", Some("/")) => reply(200, "text/html; charset=utf-8", PAGE),
        ("GET", Some("/ws")) => match upgrade(head) {
            Ok((accepted, request)) => {
                if let Err(error) = tcp.write_all(&accepted.to_bytes()).await {
                    return format!("upgrade failed: {error}");
                }
                let mut conn = request.into_connection(config());
                conn.recv(&buf[len..]); // what we read past the head: the first frames, if any
                return chat(WebSocket::from_connection(tcp, conn), room).await;
            }
            Err(refusal) => refusal,
        },
        (_, Some("/" | "/ws")) => reply(405, "text/plain", "only GET here"),
        _ => reply(404, "text/plain", "not found"),
    };
    refuse(tcp, response).await
}

/// A request head: method, target, version, header fields.
type Head = (String, String, HttpVersion, Headers);

/// Reads until the request head is complete (at most `MAX_HEAD` bytes);
/// returns it and its length in `buf`, or why it is refused.
async fn read_head(tcp: &mut TcpStream, buf: &mut Vec<u8>) -> Result<(Head, usize), RequestError> {
    let mut chunk = [0; 4096];
    let mut searched: usize = 0;
    loop {
        // Parse only once a blank line has arrived: parsing the growing
        // buffer after every read would be quadratic in a trickled head.
        let blank_line = buf[searched.saturating_sub(2)..]
            .windows(2)
            .any(|pair| pair == b"\n\n" || pair == b"\n\r");
        searched = buf.len();
        let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut parsed = httparse::Request::new(&mut fields);
        match if blank_line {
            parsed.parse(buf)
        } else {
            Ok(Status::Partial)
        } {
            Ok(Status::Complete(len)) => {
                // A complete head has all three; a missing one would be refused later.
                let (method, target) = (parsed.method.unwrap_or(""), parsed.path.unwrap_or(""));
                let version = if parsed.version == Some(1) {
                    Http11
                } else {
                    Http10
                };
                let headers = parsed.headers.iter().map(|field| (field.name, field.value));
                let head = (method.into(), target.into(), version, headers.collect());
                return Ok((head, len));
            }
            Ok(Status::Partial) if buf.len() < MAX_HEAD => {}
            Ok(Status::Partial) => return Err(RequestError::HeadTooLarge { max: MAX_HEAD }),
            Err(TooManyHeaders) => return Err(RequestError::TooManyHeaders { max: MAX_HEADERS }),
            Err(_) => return Err(RequestError::Malformed),
        }
        let room = chunk.len().min(MAX_HEAD - buf.len());
        match tcp.read(&mut chunk[..room]).await {
            Ok(0) | Err(_) => return Err(RequestError::Malformed), // cut short
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Hands the request over to the crate: the 101 and the request to start
/// the connection from, or the refusal to answer with.
fn upgrade((method, target, version, headers): Head) -> Result<(Response, Request), Response> {
    let mut request = Request::from_parts(&method, &target, version, headers)
        .map_err(|error| error.response())?;
    // A page from another site must not join (no cookies here, but still).
    let ours = |origin: &str| origin.strip_prefix("http://") == Some(request.host());
    if !request.origin().is_none_or(ours) {
        return Err(reply(403, "text/plain", "origin not allowed"));
    }
    if !request.protocols().any(|offered| offered == PROTOCOL) {
        return Err(reply(400, "text/plain", "subprotocol chat.v1 required"));
    }
    // Our HTTP parser made the request, so we negotiate compression
    // ourselves (a `ServerHandshake` would have).
    request.negotiate_deflate(&config().deflate);
    match request.accept(&Accept::new().protocol(PROTOCOL)) {
        Ok(accepted) => Ok((accepted, request)),
        Err(_) => Err(Response::internal_error()), // not expected: chat.v1 was offered
    }
}

/// Every chat connection's configuration: messages up to [`MAX_MESSAGE`]
/// (inflated), permessage-deflate when the browser offers it.
fn config() -> Config {
    let mut config = Config::default();
    config.max_frame_len = MAX_MESSAGE;
    config.max_message_len = MAX_MESSAGE;
    config.deflate.enabled = true;
    config
}

/// A response that ends the exchange (it says `Connection: close`). Only
/// our constants go in, so it never falls back to the 500.
fn reply(status: u16, content_type: &str, body: &str) -> Response {
    match Response::new(status).and_then(|response| response.header("Content-Type", content_type)) {
        Ok(response) => response.body(body),
        Err(_) => Response::internal_error(),
    }
}

async fn refuse(mut tcp: TcpStream, response: Response) -> String {
    if tcp.write_all(&response.to_bytes()).await.is_ok() {
        linger(&mut tcp).await;
    }
    format!("answered {}", response.status())
}

/// A joined client: its lines go to the room, the room's lines come to it.
/// One `select!` between the connection and the client's queue; `recv` is
/// cancel-safe, so a room line that wins the race loses no message.
async fn chat(mut ws: WebSocket<TcpStream>, room: &Room) -> String {
    let id = room.next_id.fetch_add(1, Ordering::Relaxed) + 1;
    let name = format!("guest-{id}");
    let (queue, mut lines) = mpsc::channel(QUEUE);
    let _ = ws.feed(Message::text(format!("* you are {name}"))).await;
    room.clients().insert(id, queue);
    room.broadcast(&format!("* {name} joined"));
    let mut spent = Instant::now();
    let mut why = String::new();
    loop {
        let line: Arc<str> = tokio::select! {
            message = ws.recv() => match message {
                Some(Ok(Message::Text(text))) if ws.state() == State::Open => {
                    spent = spent.max(Instant::now()) + PER_LINE;
                    if spent > Instant::now() + PER_LINE * BURST {
                        why = "sent too fast, closed with 1008".into();
                        close(&mut ws, CloseCode::POLICY_VIOLATION, "too many messages").await;
                        break;
                    }
                    if !text.trim().is_empty() {
                        room.broadcast(&format!("{name}: {}", text.trim()));
                    }
                    continue;
                }
                Some(Ok(Message::Binary(_))) => {
                    why = "sent binary, closed with 1003".into();
                    close(&mut ws, CloseCode::UNSUPPORTED_DATA, "text only").await;
                    break;
                }
                Some(Ok(Message::Close(frame))) => {
                    // Already echoed; `recv` ends next.
                    let code = frame.map_or(CloseCode::NO_STATUS_RECEIVED, |f| f.code());
                    why = format!("closed with {code}");
                    continue;
                }
                // Pings are answered by the connection itself; lines that
                // arrive after our close are dropped.
                Some(Ok(_)) => continue,
                Some(Err(error)) => {
                    why = error.to_string();
                    break;
                }
                None => break,
            },
            line = lines.recv() => match line {
                Some(line) => line,
                // Dropped from the room: its queue was full.
                None => {
                    why = "too slow, closed with 1013".into();
                    close(&mut ws, CloseCode::TRY_AGAIN_LATER, "too slow: messages piled up").await;
                    break;
                }
            },
        };
        // Written out now, in one write with what else was queued; a
        // client that takes longer than `WRITE_TIMEOUT` is dropped.
        if !matches!(
            timeout(WRITE_TIMEOUT, ws.send(Message::text(&*line))).await,
            Ok(Ok(()))
        ) {
            why = "write failed or timed out".into();
            break;
        }
    }
    room.clients().remove(&id);
    room.broadcast(&format!("* {name} left"));
    format!("{name}: {why}")
}

/// Closes with `code` and waits (at most the close timeout, 10 s) for the
/// client's answer.
async fn close(ws: &mut WebSocket<TcpStream>, code: CloseCode, reason: &str) {
    let _ = ws.close(code, reason).await;
}

/// Ends our side, then reads (and drops) what the peer still sends until it
/// closes too or `LINGER_TIMEOUT` passes, so our last bytes are not
/// destroyed by a reset.
async fn linger(tcp: &mut TcpStream) {
    let mut buf = [0; 4096];
    let drain = async {
        tcp.shutdown().await?;
        while tcp.read(&mut buf).await? > 0 {}
        std::io::Result::Ok(())
    };
    let _ = timeout(LINGER_TIMEOUT, drain).await;
}
