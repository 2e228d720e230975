//! Messages of any size in constant memory, both ways: `send_reader`
//! streams a source as fragments, `into_streaming` hands out the pieces
//! as they arrive. A counting allocator (this test binary's own) checks
//! that the heap never holds more than a few reads' worth while a message
//! far larger passes through.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, ReadBuf};
use wsproto::Config;
use wsproto_tokio::{Acceptor, Chunk, ClientBuilder, Message, MessageKind};

/// Counts live heap bytes and remembers the peak.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Relaxed) + layout.size();
        PEAK.fetch_max(live, Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() {
            let live = LIVE.fetch_add(new_size - layout.size(), Relaxed) + new_size - layout.size();
            PEAK.fetch_max(live, Relaxed);
        } else {
            LIVE.fetch_sub(layout.size() - new_size, Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The size of the streamed message: 1 GiB by default (a debug build
/// moves it in seconds), `WSPROTO_STREAM_BYTES=10000000000` for 10 GB.
fn message_len() -> u64 {
    std::env::var("WSPROTO_STREAM_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1 << 30)
}

/// The byte at `at` of the streamed message: position-dependent (a prime
/// period), so a lost, repeated or reordered piece shows.
const PERIOD: u64 = 251;

/// Pieces are made and checked this many bytes at a time.
const STEP: usize = 64 << 10;

/// The pattern from any phase: `cycle()[at % PERIOD..][..n]` is the
/// message's bytes `at..at + n` for `n <= STEP` (compared and copied as
/// slices, which stays fast in a debug build).
fn cycle() -> &'static [u8] {
    static CYCLE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    CYCLE.get_or_init(|| {
        (0..STEP as u64 + PERIOD)
            .map(|at| (at % PERIOD) as u8)
            .collect()
    })
}

fn expected(at: u64, n: usize) -> &'static [u8] {
    let phase = (at % PERIOD) as usize;
    &cycle()[phase..phase + n]
}

/// An endless-looking source of `len` pattern bytes that owns no memory.
struct Pattern {
    at: u64,
    len: u64,
}

impl AsyncRead for Pattern {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let n = (buf.remaining() as u64)
            .min(self.len - self.at)
            .min(STEP as u64) as usize;
        buf.put_slice(expected(self.at, n));
        self.at += n as u64;
        Poll::Ready(Ok(()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_far_larger_than_memory_use_streams_through_both_ways() {
    let len = message_len();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut config = Config::default();
    // Nothing is gathered at the streaming level: no limit needed.
    config.max_message_len = u64::MAX;
    let server_config = config.clone();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let ws = Acceptor::new()
            .config(server_config)
            .accept(tcp)
            .await
            .unwrap();
        let mut ws = ws.into_streaming();
        let (mut received, mut pieces) = (0u64, 0u64);
        while let Some(chunk) = ws.recv().await {
            match chunk.unwrap() {
                Chunk::Data { kind, payload, fin } => {
                    assert_eq!(kind, MessageKind::Binary);
                    for part in payload.chunks(STEP) {
                        assert!(
                            part == expected(received, part.len()),
                            "wrong bytes at {received}"
                        );
                        received += part.len() as u64;
                    }
                    pieces += 1;
                    if fin {
                        // The whole message arrived: say so, and close.
                        ws.send(Message::text(received.to_string())).await.unwrap();
                    }
                }
                Chunk::Close(_) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        (received, pieces)
    });
    let (mut ws, _) = ClientBuilder::new(&format!("ws://{addr}/"))
        .config(config)
        .connect()
        .await
        .unwrap();
    let baseline = LIVE.load(Relaxed);
    PEAK.store(baseline, Relaxed);
    let sent = tokio::time::timeout(
        Duration::from_secs(600),
        ws.send_reader(MessageKind::Binary, Pattern { at: 0, len }),
    )
    .await
    .expect("streamed in time")
    .unwrap();
    assert_eq!(sent, len);
    let reply = ws.recv().await.unwrap().unwrap();
    assert_eq!(reply.as_text(), Some(len.to_string().as_str()));
    ws.close(wsproto::CloseCode::NORMAL, "").await.unwrap();
    let (received, pieces) = server.await.unwrap();
    assert_eq!(received, len);
    assert!(pieces > 1, "the message came in pieces");
    let peak = PEAK.load(Relaxed) - baseline;
    // Both ends in this process: two 64 KiB source buffers, the outbox,
    // the server's read buffer and the pieces in flight; nothing near the
    // message's size.
    assert!(
        peak < 8 << 20,
        "peak heap {peak} bytes while streaming {len}"
    );
    eprintln!("streamed {len} bytes in {pieces} pieces; peak heap {peak} bytes");
}
