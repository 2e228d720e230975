//! What the hyper and axum upgrade tests share: a deadline on every test,
//! tokio-tungstenite as an independent client, and a raw client that
//! writes exact bytes (a request with frames pipelined after it, a request
//! no library would send) and reads the answer back without any WebSocket
//! library in the way.

#![allow(dead_code)] // each test file uses its own part of it

use std::future::Future;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, handshake::client::Response};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Every test ends within this, passing or failing.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// Runs `test` under [`DEADLINE`].
pub async fn within<T>(test: impl Future<Output = T>) -> T {
    tokio::time::timeout(DEADLINE, test)
        .await
        .expect("the test did not finish within its deadline")
}

/// A tokio-tungstenite client.
pub type Tungstenite = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Connects tokio-tungstenite (a URL, or a request with headers) and
/// checks that the upgrade was accepted (101).
pub async fn tungstenite_connect(
    request: impl IntoClientRequest + Unpin,
) -> (Tungstenite, Response) {
    let (ws, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(response.status(), 101);
    (ws, response)
}

/// Sends `message` with tokio-tungstenite; the same message comes back.
pub async fn tungstenite_echo(ws: &mut Tungstenite, message: tungstenite::Message) {
    ws.send(message.clone()).await.unwrap();
    let reply = ws.next().await.unwrap().unwrap();
    assert_eq!(reply, message);
}

/// An upgrade request for `path` with `extra` header lines (each ending in
/// `\r\n`), version 13 unless `extra` says otherwise.
pub fn request(path: &str, extra: &str) -> Vec<u8> {
    let version = if extra.contains("Sec-WebSocket-Version") {
        ""
    } else {
        "Sec-WebSocket-Version: 13\r\n"
    };
    format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         {version}{extra}\r\n"
    )
    .into_bytes()
}

/// A client frame: FIN, `opcode`, masked with a fixed key, payload under
/// 64 KiB.
pub fn masked_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let key = [0x37, 0xfa, 0x21, 0x3d];
    let mut frame = vec![0x80 | opcode];
    match payload.len() {
        len @ 0..=125 => frame.push(0x80 | len as u8),
        len => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&u16::try_from(len).expect("under 64 KiB").to_be_bytes());
        }
    }
    frame.extend_from_slice(&key);
    frame.extend(payload.iter().zip(key.iter().cycle()).map(|(b, k)| b ^ k));
    frame
}

/// A server frame as it came off the wire.
#[derive(Debug)]
pub struct Frame {
    /// FIN, RSV1-3 and the opcode: the first byte.
    pub first: u8,
    pub payload: Vec<u8>,
}

impl Frame {
    pub fn opcode(&self) -> u8 {
        self.first & 0x0f
    }

    /// RSV1: the payload is compressed (permessage-deflate).
    pub fn compressed(&self) -> bool {
        self.first & 0x40 != 0
    }
}

/// A TCP connection with the bytes read and not yet parsed.
pub struct Raw {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Raw {
    pub async fn connect(addr: std::net::SocketAddr) -> Raw {
        Raw {
            stream: TcpStream::connect(addr).await.expect("connect"),
            buf: Vec::new(),
        }
    }

    /// Writes `bytes` in one `write_all`.
    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
    }

    async fn fill(&mut self) -> usize {
        let mut chunk = [0u8; 4096];
        let read = self.stream.read(&mut chunk).await.expect("read");
        self.buf.extend_from_slice(&chunk[..read]);
        read
    }

    /// The response head, up to and including its blank line; what follows
    /// it stays buffered.
    pub async fn head(&mut self) -> String {
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head: Vec<u8> = self.buf.drain(..end + 4).collect();
                return String::from_utf8(head).expect("an ASCII head");
            }
            assert!(self.fill().await > 0, "the server closed before its head");
        }
    }

    /// Everything until the server closes the connection.
    pub async fn rest_until_close(&mut self) -> Vec<u8> {
        while self.fill().await > 0 {}
        std::mem::take(&mut self.buf)
    }

    /// The next server frame (unmasked, payload under 64 KiB).
    pub async fn frame(&mut self) -> Frame {
        loop {
            if self.buf.len() >= 2 {
                assert_eq!(self.buf[1] & 0x80, 0, "a server frame is not masked");
                let (len, start) = match self.buf[1] & 0x7f {
                    126 if self.buf.len() >= 4 => (
                        usize::from(u16::from_be_bytes([self.buf[2], self.buf[3]])),
                        4,
                    ),
                    126 => (usize::MAX, 4),
                    127 => panic!("a test frame over 64 KiB"),
                    len => (usize::from(len), 2),
                };
                if len != usize::MAX && self.buf.len() >= start + len {
                    let first = self.buf[0];
                    let payload = self.buf[start..start + len].to_vec();
                    self.buf.drain(..start + len);
                    return Frame { first, payload };
                }
            }
            assert!(self.fill().await > 0, "the server closed mid-frame");
        }
    }
}

/// The status code of a response head.
pub fn status(head: &str) -> u16 {
    head.split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"))
}

/// A header's value in a response head (the first of that name).
pub fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|line| {
        let (field, value) = line.split_once(':')?;
        field.eq_ignore_ascii_case(name).then_some(value.trim())
    })
}

/// What the upgrade tests' servers answer a valid request: `/forbidden` is
/// refused with 403 by the application, `chat.v1` is chosen when offered.
pub fn choose(
    request: &wsproto::handshake::Request,
) -> Result<wsproto::handshake::Accept, wsproto::handshake::Response> {
    use wsproto::handshake::{Accept, Response};
    if request.path() == "/forbidden" {
        let refusal = Response::new(403).expect("a valid status");
        return Err(refusal.body("not here"));
    }
    let chat = request.protocols().any(|p| p == "chat.v1");
    Ok(if chat {
        Accept::new().protocol("chat.v1")
    } else {
        Accept::new()
    })
}

/// An RFC 8441 extended CONNECT for `uri` through hyper's HTTP/2 client:
/// `:protocol websocket` and `sec-websocket-version`.
pub fn extended_connect(
    uri: &str,
    version: &str,
) -> hyper::Request<http_body_util::Empty<hyper::body::Bytes>> {
    let mut request = hyper::Request::connect(uri)
        .version(hyper::Version::HTTP_2)
        .header("sec-websocket-version", version)
        .body(http_body_util::Empty::new())
        .unwrap();
    request
        .extensions_mut()
        .insert(hyper::ext::Protocol::from_static("websocket"));
    request
}

/// A mebibyte that is not all one byte.
pub fn mebibyte() -> Vec<u8> {
    (0..1 << 20).map(|i: u32| (i % 251) as u8).collect()
}
