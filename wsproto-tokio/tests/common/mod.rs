//! Helpers shared by the integration tests: loopback pairs, a raw peer (the
//! core `Connection` driven by hand, so a test controls every byte and
//! every read), raw frames, and a limit that turns a hang into a failure.

// Each test file uses a different part of this module.
#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wsproto::frame::{FrameHeader, MAX_HEADER_LEN, OpCode, apply_mask};
use wsproto::handshake::{Accept, ClientHandshake, ClientRequest, ServerHandshake};
use wsproto::{CloseFrame, Config, Connection, ConnectionError, Control, Event, State};
use wsproto_tokio::{ClientBuilder, ClientStream, Message, WebSocket};

/// How long any one step of a test may take on real time before it counts
/// as a hang (generous: the machine is shared).
pub const LIMIT: Duration = Duration::from_secs(10);

/// Awaits `future`, failing the test if it takes longer than [`LIMIT`].
pub async fn within<F: Future>(what: &str, future: F) -> F::Output {
    match finishes_within(LIMIT, future).await {
        Some(output) => output,
        None => panic!("{what}: no outcome within {LIMIT:?} (hung)"),
    }
}

/// `future`'s output if it finishes within `wait`. Unlike
/// `tokio::time::timeout`, the limit is checked first when it fires: a
/// future that would only finish because the limit's wake-up polled it
/// once more (a lost wake-up) counts as not finished.
pub async fn finishes_within<F: Future>(wait: Duration, future: F) -> Option<F::Output> {
    tokio::select! {
        biased;
        () = tokio::time::sleep(wait) => None,
        output = future => Some(output),
    }
}

/// A listener on 127.0.0.1 with a port of the system's choosing.
pub async fn listen() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

/// Socket buffer size (each way) for the tests that need the kernel to
/// hold little: Linux doubles it, and loopback otherwise buffers megabytes.
pub const SMALL_SOCKET_BUFFER: u32 = 32 << 10;

/// A listener whose accepted sockets have small kernel buffers.
pub async fn listen_small() -> (TcpListener, SocketAddr) {
    listen_sized(SMALL_SOCKET_BUFFER).await
}

/// A listener whose accepted sockets have `size` bytes of kernel buffer
/// each way.
pub async fn listen_sized(size: u32) -> (TcpListener, SocketAddr) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_send_buffer_size(size).unwrap();
    socket.set_recv_buffer_size(size).unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(16).unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

/// A loopback connection to `addr` with small kernel buffers.
pub async fn connect_small(addr: SocketAddr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_send_buffer_size(SMALL_SOCKET_BUFFER).unwrap();
    socket.set_recv_buffer_size(SMALL_SOCKET_BUFFER).unwrap();
    let stream = socket.connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    stream
}

/// Our server and our client, connected over loopback TCP.
pub async fn pair() -> (WebSocket<TcpStream>, WebSocket<ClientStream>) {
    pair_with(Config::default(), Config::default()).await
}

/// [`pair`] with a configuration for each side.
pub async fn pair_with(
    server: Config,
    client: Config,
) -> (WebSocket<TcpStream>, WebSocket<ClientStream>) {
    let (listener, addr) = listen().await;
    let acceptor = wsproto_tokio::Acceptor::new().config(server);
    let server = async {
        let (stream, _) = listener.accept().await.unwrap();
        stream.set_nodelay(true).unwrap();
        acceptor.accept(stream).await.unwrap()
    };
    within("handshake", async {
        tokio::join!(server, client_to(addr, client))
    })
    .await
}

/// Our client with `config`, connected to `addr` (not timed: the caller
/// bounds the handshake).
pub async fn client_to(addr: SocketAddr, config: Config) -> WebSocket<ClientStream> {
    ClientBuilder::new(&format!("ws://{addr}/"))
        .config(config)
        .connect()
        .await
        .unwrap()
        .0
}

/// Echoes data messages until the connection ends; returns how many, or
/// the error that ended it.
pub async fn echo_all<IO: AsyncRead + AsyncWrite + Unpin>(
    mut ws: WebSocket<IO>,
) -> Result<usize, wsproto_tokio::Error> {
    let mut echoed = 0;
    while let Some(message) = ws.recv().await {
        let message = message?;
        if message.is_data() {
            ws.send(message).await?;
            echoed += 1;
        }
    }
    Ok(echoed)
}

/// A peer driven by hand: the core [`Connection`] over a transport, read
/// and written only when the test says so.
pub struct Peer<IO> {
    pub io: IO,
    pub conn: Connection,
    eof: bool,
}

impl<IO: AsyncRead + AsyncWrite + Unpin> Peer<IO> {
    pub fn new(io: IO, conn: Connection) -> Self {
        Peer {
            io,
            conn,
            eof: false,
        }
    }

    /// Writes out everything the connection has queued.
    pub async fn flush(&mut self) {
        let mut out = Vec::new();
        self.conn.poll_transmit(&mut out);
        self.io.write_all(&out).await.unwrap();
        self.io.flush().await.unwrap();
    }

    /// Writes `bytes` as they are, bypassing the connection.
    pub async fn write_raw(&mut self, bytes: &[u8]) {
        self.io.write_all(bytes).await.unwrap();
        self.io.flush().await.unwrap();
    }

    /// The next event, reading as needed (and writing out the automatic
    /// answers); `Ok(None)` once the connection closed cleanly, or the
    /// transport ended after a failure was reported.
    pub async fn event(&mut self) -> Result<Option<Event>, ConnectionError> {
        let mut buf = vec![0u8; 64 << 10];
        loop {
            let event = self.conn.poll_event()?;
            if event.is_some() {
                self.flush_quietly().await;
                return Ok(event);
            }
            if self.eof || self.conn.state() == State::Closed {
                self.flush_quietly().await;
                return Ok(None);
            }
            let n = self.io.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                self.eof = true;
                self.conn.recv_eof();
            } else {
                self.conn.recv(&buf[..n]);
            }
        }
    }

    /// The next event that is a message (pings and pongs skipped).
    pub async fn message(&mut self) -> Message {
        loop {
            match self.event().await.unwrap().expect("a message") {
                Event::Control(Control::Ping(_) | Control::Pong(_)) => continue,
                other => return Message::from(other),
            }
        }
    }

    /// Reads until the transport ends; returns the close frame received on
    /// the way, if any (everything else is skipped).
    pub async fn close_then_eof(&mut self) -> Option<CloseFrame> {
        let mut close = None;
        while let Ok(Some(event)) = self.event().await {
            if let Event::Control(Control::Close(frame)) = event {
                close = Some(frame);
            }
        }
        // The transport's end follows the close.
        let mut rest = [0u8; 256];
        while self.io.read(&mut rest).await.unwrap_or(0) > 0 {}
        close
    }

    /// Answers (pongs) may fail to go out once the other side is gone.
    async fn flush_quietly(&mut self) {
        let mut out = Vec::new();
        self.conn.poll_transmit(&mut out);
        if !out.is_empty() {
            let _ = self.io.write_all(&out).await;
        }
    }
}

/// A raw client: the core's handshake over a fresh loopback connection.
pub async fn raw_client(addr: SocketAddr, config: Config) -> Peer<TcpStream> {
    let stream = TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    raw_client_on(stream, &format!("ws://{addr}/"), config).await
}

/// [`raw_client`] with small kernel buffers.
pub async fn raw_client_small(addr: SocketAddr, config: Config) -> Peer<TcpStream> {
    let stream = connect_small(addr).await;
    raw_client_on(stream, &format!("ws://{addr}/"), config).await
}

/// A raw client over `io`.
pub async fn raw_client_on<IO: AsyncRead + AsyncWrite + Unpin>(
    mut io: IO,
    url: &str,
    config: Config,
) -> Peer<IO> {
    let request = ClientRequest::new(url).unwrap();
    let mut handshake = ClientHandshake::new(&request, config).unwrap();
    io.write_all(handshake.request_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    loop {
        let n = io.read(&mut buf).await.unwrap();
        assert!(n > 0, "the server ended the handshake");
        if let Some(upgraded) = handshake.recv(&buf[..n]).unwrap() {
            return Peer::new(io, upgraded.into_connection());
        }
    }
}

/// A raw server: the core's handshake on an accepted transport.
pub async fn raw_server_on<IO: AsyncRead + AsyncWrite + Unpin>(
    mut io: IO,
    config: Config,
) -> Peer<IO> {
    let mut handshake = ServerHandshake::new(&config);
    let mut buf = vec![0u8; 4096];
    loop {
        let n = io.read(&mut buf).await.unwrap();
        assert!(n > 0, "the client ended the handshake");
        if let Some(request) = handshake.recv(&buf[..n]).unwrap() {
            let response = request.accept(&Accept::new()).unwrap();
            io.write_all(&response.to_bytes()).await.unwrap();
            return Peer::new(io, request.into_connection(config));
        }
    }
}

/// One frame as raw bytes: `mask` for a client's frame.
pub fn frame(opcode: OpCode, fin: bool, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let header = FrameHeader {
        fin,
        rsv: 0,
        opcode,
        mask,
        payload_len: payload.len() as u64,
    };
    let mut head = [0u8; MAX_HEADER_LEN];
    let len = header.encode(&mut head);
    let mut out = head[..len].to_vec();
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(key) = mask {
        apply_mask(&mut out[start..], key, 0);
    }
    out
}

/// The `n`th test message: text or binary, of varied lengths (short, 16-bit
/// and 64-bit length headers), its number at the front.
pub fn numbered(n: usize) -> Message {
    let len = match n % 7 {
        0 => 0,
        1 => 3,
        2 => 125,
        3 => 126,
        4 => 1000,
        5 => 70_000,
        _ => 17,
    };
    let mut body = format!("{n:08}:");
    while body.len() < len + 9 {
        body.push(char::from(b'a' + (body.len() % 26) as u8));
    }
    if n % 2 == 0 {
        Message::text(body)
    } else {
        Message::binary(body.into_bytes())
    }
}

/// The number [`numbered`] put at the front of `message`.
pub fn number_of(message: &Message) -> usize {
    let bytes = message.as_bytes();
    std::str::from_utf8(&bytes[..8]).unwrap().parse().unwrap()
}
