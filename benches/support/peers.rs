//! What the benches share: an in-memory transport every library can be
//! driven over, masked client frames made up front with a fixed key, and a
//! one-poll `block_on` for fastwebsockets' futures.

use std::future::Future;
use std::io::{self, Read, Write};
use std::pin::{Pin, pin};
use std::task::{Context, Poll, Waker};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use wsproto::{Config, Connection, EntropyError, EntropySource, MessageKind, Role};

/// A transport over bytes prepared up front. A read copies
/// `min(requested, remaining)` bytes (one memcpy); writes are counted and
/// dropped. It never blocks and owns no heap, so neither the instruction
/// counts nor the heap figures include the transport's own work.
pub struct Mem<'a> {
    input: &'a [u8],
    written: usize,
}

impl<'a> Mem<'a> {
    pub fn new(input: &'a [u8]) -> Self {
        Mem { input, written: 0 }
    }

    /// Bytes written so far (all discarded).
    pub fn written(&self) -> usize {
        self.written
    }

    /// Appends at most `max` bytes to `buf` (one memcpy into its spare
    /// room, as a read into a `BytesMut` does); returns how many.
    #[allow(dead_code)] // the benches that read into a `BytesMut` only
    pub fn read_onto(&mut self, buf: &mut wsproto::bytes::BytesMut, max: usize) -> usize {
        let n = max.min(self.input.len());
        let (now, rest) = self.input.split_at(n);
        buf.extend_from_slice(now);
        self.input = rest;
        n
    }

    fn take(&mut self, dest: &mut [u8]) -> usize {
        let n = dest.len().min(self.input.len());
        let (now, rest) = self.input.split_at(n);
        dest[..n].copy_from_slice(now);
        self.input = rest;
        n
    }
}

impl Read for Mem<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Ok(self.take(buf))
    }
}

impl Write for Mem<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.written += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl AsyncRead for Mem<'_> {
    fn poll_read(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let n = buf.remaining().min(this.input.len());
        let (now, rest) = this.input.split_at(n);
        // `put_slice` writes into the (possibly uninitialised) spare room:
        // one memcpy, as `take`.
        buf.put_slice(now);
        this.input = rest;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Mem<'_> {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().written += buf.len();
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Runs a future that cannot wait: over `Mem` every read and write is
/// ready at once, so one poll finishes it. No runtime, so its machinery is
/// not counted. Inlined into every caller alike, so no peer's future is
/// moved into an out-of-line call.
#[inline(always)]
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("an in-memory transport never makes a future wait"),
    }
}

/// The masking key every bench uses.
pub const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A fixed masking key, so every run sees the same bytes (the key's value
/// changes nothing else: unmasking costs the same for any key).
pub struct FixedEntropy;

impl EntropySource for FixedEntropy {
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), EntropyError> {
        for (byte, key) in dest.iter_mut().zip(KEY.iter().cycle()) {
            *byte = *key;
        }
        Ok(())
    }
}

/// `count` masked frames of `kind` carrying `payload`, as a client sends
/// them: what a server decodes.
pub fn masked_frames(kind: MessageKind, payload: &[u8], count: usize) -> Vec<u8> {
    let mut client =
        Connection::with_entropy(Role::Client, Config::default(), Box::new(FixedEntropy));
    let mut wire = Vec::new();
    for _ in 0..count {
        match kind {
            MessageKind::Binary => client.send_binary(payload),
            MessageKind::Text => {
                client.send_text(std::str::from_utf8(payload).expect("text payload is UTF-8"))
            }
        }
        .expect("the client is open");
        client.poll_transmit(&mut wire);
    }
    wire
}
