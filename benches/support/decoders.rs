//! What the decode benches share (`codec` and `owned`): the payloads, an
//! endless in-memory source where every read is one memcpy, and each
//! library driven to deliver whole messages (or, for wsproto's streaming
//! level, pieces), every payload byte counted.

use std::hint::black_box;
use std::io::{self, Read, Write};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use wsproto::bytes::BytesMut;
use wsproto::{Config, Connection, Event, MessageKind, Role, StreamEvent, Streaming};

use super::peers::block_on;

/// What wsproto reads per call, as the example drivers do.
pub const READ_CHUNK: usize = 64 << 10;

#[derive(Clone, Copy)]
pub enum Payload {
    Binary,
    TextAscii,
    /// Characters of 1, 2, 3 and 4 bytes in turn.
    TextMixed,
}

impl Payload {
    pub fn message_kind(self) -> MessageKind {
        match self {
            Payload::Binary => MessageKind::Binary,
            _ => MessageKind::Text,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Payload::Binary => "binary",
            Payload::TextAscii => "text_ascii",
            Payload::TextMixed => "text_mixed",
        }
    }

    pub fn bytes(self, size: usize) -> Vec<u8> {
        let chars: &[char] = match self {
            Payload::Binary => return (0..size).map(|i| (i * 31 + 7) as u8).collect(),
            Payload::TextAscii => &['t', 'h', 'e', ' ', 'q', 'u', 'i', 'c', 'k'],
            Payload::TextMixed => &['a', 'é', '€', '𝄞'],
        };
        let mut text = String::with_capacity(size);
        for c in chars.iter().cycle() {
            if text.len() + c.len_utf8() > size {
                break;
            }
            text.push(*c);
        }
        // Pad with ASCII to the exact size.
        while text.len() < size {
            text.push('.');
        }
        text.into_bytes()
    }
}

/// Enough frames per iteration to make about 1 MiB (at least one).
pub fn frames_per_iter(size: usize) -> usize {
    ((1 << 20) / size).max(1)
}

/// An endless in-memory stream of the same wire bytes: every read is one
/// memcpy; writes are counted and dropped (the decode benches' peers may
/// answer nothing, but their write paths need a stream).
pub struct Source {
    wire: Vec<u8>,
    at: usize,
}

impl Source {
    pub fn new(wire: Vec<u8>) -> Self {
        Source { wire, at: 0 }
    }

    pub fn fill(&mut self, buf: &mut [u8]) -> usize {
        let n = buf.len().min(self.wire.len() - self.at);
        buf[..n].copy_from_slice(&self.wire[self.at..self.at + n]);
        self.at = (self.at + n) % self.wire.len();
        n
    }
}

impl Source {
    /// Appends at most `max` bytes to `buf`: one memcpy into its spare
    /// room, as a read into a `BytesMut` does.
    pub fn fill_bytes(&mut self, buf: &mut BytesMut, max: usize) {
        let n = max.min(self.wire.len() - self.at);
        buf.extend_from_slice(&self.wire[self.at..self.at + n]);
        self.at = (self.at + n) % self.wire.len();
    }
}

impl Read for Source {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Ok(self.fill(buf))
    }
}

impl Write for Source {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl AsyncRead for Source {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        // `put_slice` copies into the spare room as it is (no zero-fill
        // first): one memcpy, as the other peers' reads.
        let this = self.get_mut();
        let n = buf.remaining().min(this.wire.len() - this.at);
        buf.put_slice(&this.wire[this.at..this.at + n]);
        this.at = (this.at + n) % this.wire.len();
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Source {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// wsproto's streaming level: reads into a buffer, payload unmasked there.
pub struct WsprotoStream {
    pub conn: Connection<Streaming>,
    source: Source,
    buf: Vec<u8>,
    at: usize,
    filled: usize,
}

impl WsprotoStream {
    pub fn new(wire: Vec<u8>) -> Self {
        WsprotoStream {
            conn: Connection::new(Role::Server, Config::default()).into_streaming(),
            source: Source::new(wire),
            buf: vec![0; READ_CHUNK],
            at: 0,
            filled: 0,
        }
    }

    /// Decodes `count` messages; returns the payload bytes seen.
    pub fn messages(&mut self, count: usize) -> usize {
        let (mut messages, mut bytes) = (0, 0);
        while messages < count {
            if self.at == self.filled {
                self.filled = self.source.fill(&mut self.buf);
                self.at = 0;
            }
            let (used, event) = self
                .conn
                .recv_in_place(&mut self.buf[self.at..self.filled])
                .expect("valid frames");
            self.at += used;
            if let Some(StreamEvent::Data { payload, fin, .. }) = event {
                bytes += black_box(payload).len();
                messages += usize::from(fin);
            }
        }
        bytes
    }
}

/// Reads onto `buf` as tokio's `AsyncReadExt::read_buf` does: into the
/// spare room, all of it, which is first grown by [`READ_CHUNK`] when less
/// than 4 KiB is left. `read(buf, room)` appends at most `room` bytes.
pub fn read_buf(buf: &mut BytesMut, read: impl FnOnce(&mut BytesMut, usize)) {
    if buf.capacity() - buf.len() < 4096 {
        buf.reserve(READ_CHUNK);
    }
    let room = buf.capacity() - buf.len();
    read(buf, room);
}

/// wsproto's message level on the caller's read buffer
/// (`poll_event_from`): every message owned (`Bytes` / `Utf8Bytes`), a
/// single-frame one split off the buffer the read copied into.
pub struct WsprotoOwned {
    conn: Connection,
    source: Source,
    buf: BytesMut,
}

impl WsprotoOwned {
    pub fn new(wire: Vec<u8>) -> Self {
        WsprotoOwned {
            conn: Connection::new(Role::Server, Config::default()),
            source: Source::new(wire),
            buf: BytesMut::new(),
        }
    }

    pub fn messages(&mut self, count: usize) -> usize {
        let (mut messages, mut bytes) = (0, 0);
        while messages < count {
            match self
                .conn
                .poll_event_from(&mut self.buf)
                .expect("valid frames")
            {
                Some(Event::Binary(data)) => bytes += black_box(data).len(),
                Some(Event::Text(text)) => bytes += black_box(text).len(),
                Some(_) => continue,
                None => {
                    // As tokio's `read_buf`: a read fills the spare room,
                    // which is grown by a read's worth only when full.
                    read_buf(&mut self.buf, |buf, room| self.source.fill_bytes(buf, room));
                    continue;
                }
            }
            messages += 1;
        }
        bytes
    }
}

/// wsproto's message level fed by copy (`recv` + `poll_event`): every
/// message owned (`Bytes` / `Utf8Bytes`).
pub struct WsprotoMessage {
    pub conn: Connection,
    source: Source,
    buf: Vec<u8>,
}

impl WsprotoMessage {
    pub fn new(wire: Vec<u8>) -> Self {
        WsprotoMessage {
            conn: Connection::new(Role::Server, Config::default()),
            source: Source::new(wire),
            buf: vec![0; READ_CHUNK],
        }
    }

    pub fn messages(&mut self, count: usize) -> usize {
        let (mut messages, mut bytes) = (0, 0);
        while messages < count {
            match self.conn.poll_event().expect("valid frames") {
                Some(Event::Binary(data)) => bytes += black_box(data).len(),
                Some(Event::Text(text)) => bytes += black_box(text).len(),
                Some(_) => continue,
                None => {
                    let n = self.source.fill(&mut self.buf);
                    self.conn.recv(&self.buf[..n]);
                    continue;
                }
            }
            messages += 1;
        }
        bytes
    }
}

pub fn tungstenite_server(wire: Vec<u8>) -> tungstenite::WebSocket<Source> {
    tungstenite::WebSocket::from_raw_socket(
        Source::new(wire),
        tungstenite::protocol::Role::Server,
        None,
    )
}

pub fn tungstenite_messages(ws: &mut tungstenite::WebSocket<Source>, count: usize) -> usize {
    let mut bytes = 0;
    for _ in 0..count {
        match ws.read().expect("valid frames") {
            tungstenite::Message::Binary(data) => bytes += black_box(data).len(),
            tungstenite::Message::Text(text) => bytes += black_box(text).len(),
            other => panic!("unexpected {other:?}"),
        }
    }
    bytes
}

pub fn fastwebsockets_server(wire: Vec<u8>) -> fastwebsockets::WebSocket<Source> {
    fastwebsockets::WebSocket::after_handshake(Source::new(wire), fastwebsockets::Role::Server)
}

pub fn fastwebsockets_messages(ws: &mut fastwebsockets::WebSocket<Source>, count: usize) -> usize {
    let mut bytes = 0;
    for _ in 0..count {
        let frame = block_on(ws.read_frame()).expect("valid frames");
        bytes += black_box(&frame.payload[..]).len();
    }
    bytes
}

/// fastwebsockets' owned messages with text validated: its
/// `FragmentCollector` (what its docs give for whole messages).
pub fn fastwebsockets_collected(
    ws: &mut fastwebsockets::FragmentCollector<Source>,
    count: usize,
) -> usize {
    let mut bytes = 0;
    for _ in 0..count {
        let frame = block_on(ws.read_frame()).expect("valid frames");
        bytes += black_box(&frame.payload[..]).len();
    }
    bytes
}
