//! Owned whole messages, decoded by a server from masked frames: wsproto's
//! message level next to fastwebsockets and tungstenite delivering the same
//! thing, with runs interleaved and timed in thread-CPU time (issue 19's
//! targets).
//!
//! ```sh
//! cargo bench --bench owned            # ~1 minute
//! cargo bench --bench owned -- 125     # the rows whose name contains "125"
//! ```
//!
//! What each column delivers, per message:
//!
//! - `wsproto owned`: `Connection::poll_event_from` on the `BytesMut` the
//!   source's read copied into: `Event::Binary(Bytes)` / `Event::Text(Utf8Bytes)`,
//!   owned (outlives the next call), text validated.
//! - `wsproto recv`: `recv(&[u8])` + `poll_event`: the same events, the
//!   input copied into the connection first.
//! - `fastwebsockets`: `WebSocket::read_frame`, an owned frame (its payload
//!   split off its read buffer); for text, `FragmentCollector::read_frame`,
//!   which validates UTF-8 as wsproto does (plain `read_frame` does not).
//! - `tungstenite`: `WebSocket::read`, an owned `Message`.
//! - `limit` (1 MiB only): what any decoder must do to hand out the bytes:
//!   the read's copy into a buffer, unmasking it, and for text validating
//!   it (simdutf8, the fastest validator we know), nothing else.
//!
//! Every library reads from the same endless in-memory source (one memcpy
//! per read into spare room, no zero-fill), its futures polled by the same
//! inlined `block_on`, every result checked (message count and bytes). Each
//! round runs every column once, in an order rotated from round to round,
//! and the figure is the median over the rounds of thread-CPU nanoseconds
//! per message, so other work on the machine counts for little.
//!
//! Then sending, as a server, small binary messages the same way:
//!
//! - `wsproto owned`: `send_binary_owned(Vec<u8>)`, a payload of its own
//!   per message handed over (copied into the outbox and freed, as it is
//!   under 4 KiB), then the frame written with one vectored write
//!   (`pending_transmit_chunks`, `advance_transmit`).
//! - `wsproto borrowed`: `send_binary(&[u8])` of one reused buffer, written
//!   the same way.
//! - `fws owned`: fastwebsockets' `write_frame` of `Payload::Owned(Vec<u8>)`,
//!   a payload of its own per message (freed once written).
//! - `fws borrowed`: `write_frame` of `Payload::BorrowedMut`, one reused
//!   buffer.
//!
//! Every column writes each frame into the same kind of sink, which copies
//! it once; the owned payloads are made untimed, a batch at a time, so
//! they are as hot as the borrowed columns' one buffer. Like for like:
//! owned against owned, borrowed against borrowed.

use std::hint::black_box;
use std::io::{self, IoSlice, Write};
use std::pin::Pin;
use std::task::{Context, Poll};

#[allow(dead_code)]
#[path = "support/peers.rs"]
mod peers;

#[allow(dead_code)]
#[path = "support/decoders.rs"]
mod decoders;

use decoders::{
    Payload, WsprotoMessage, WsprotoOwned, fastwebsockets_collected, fastwebsockets_messages,
    fastwebsockets_server, frames_per_iter, tungstenite_messages, tungstenite_server,
};
use peers::{KEY, block_on, masked_frames};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use wsproto::frame::apply_mask;
use wsproto::{Config, Connection, Role};

/// Rounds per case: each column runs once per round.
const ROUNDS: usize = 9;
/// Payload decoded per timed run, at least (whole messages).
const BYTES_PER_RUN: usize = 4 << 20;
/// Messages decoded per timed run, at least: at 1 MiB, 4 MiB was 4
/// messages a sample, and one page fault or interrupt moved a column's
/// median by 10% between runs.
const MESSAGES_PER_RUN: usize = 64;

/// The thread's CPU time in nanoseconds.
fn thread_cpu_ns() -> u128 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a
    // constant the platform defines.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    ts.tv_sec as u128 * 1_000_000_000 + ts.tv_nsec as u128
}

/// One column: decodes `count` messages per call, returns payload bytes.
type Run = Box<dyn FnMut(usize) -> usize>;

struct Column {
    name: &'static str,
    run: Run,
}

/// The copy, unmask (and validate) limit for one message of `size` bytes:
/// the masked payload copied from the wire into a reused buffer, unmasked,
/// validated for text.
fn limit(payload: Vec<u8>, text: bool) -> Run {
    let mut masked = payload;
    apply_mask(&mut masked, KEY, 0);
    let mut buf = vec![0u8; masked.len()];
    Box::new(move |count| {
        let mut bytes = 0;
        for _ in 0..count {
            buf.copy_from_slice(black_box(&masked));
            apply_mask(&mut buf, KEY, 0);
            if text {
                assert!(simdutf8::basic::from_utf8(&buf).is_ok());
            }
            bytes += black_box(&buf).len();
        }
        bytes
    })
}

fn columns(kind: Payload, size: usize) -> Vec<Column> {
    let count = frames_per_iter(size);
    let payload = kind.bytes(size);
    let wire = masked_frames(kind.message_kind(), &payload, count);
    let text = !matches!(kind, Payload::Binary);
    let mut owned = WsprotoOwned::new(wire.clone());
    let mut message = WsprotoMessage::new(wire.clone());
    let mut tung = tungstenite_server(wire.clone());
    let mut columns = vec![
        Column {
            name: "wsproto owned",
            run: Box::new(move |n| owned.messages(n)),
        },
        Column {
            name: "wsproto recv",
            run: Box::new(move |n| message.messages(n)),
        },
        Column {
            name: "fastwebsockets",
            run: if text {
                let mut fws = fastwebsockets::FragmentCollector::new(fastwebsockets_server(wire));
                Box::new(move |n| fastwebsockets_collected(&mut fws, n))
            } else {
                let mut fws = fastwebsockets_server(wire);
                Box::new(move |n| fastwebsockets_messages(&mut fws, n))
            },
        },
        Column {
            name: "tungstenite",
            run: Box::new(move |n| tungstenite_messages(&mut tung, n)),
        },
    ];
    if size >= 1 << 20 {
        columns.push(Column {
            name: "limit",
            run: limit(payload, text),
        });
    }
    columns
}

/// Median thread-CPU nanoseconds per message of each column.
fn measure(kind: Payload, size: usize) -> Vec<(&'static str, f64)> {
    let mut columns = columns(kind, size);
    let per_run = (BYTES_PER_RUN / size).max(MESSAGES_PER_RUN);
    let mut samples = vec![Vec::with_capacity(ROUNDS); columns.len()];
    // One untimed run each: buffers grown, caches warm.
    for column in &mut columns {
        assert_eq!((column.run)(per_run), per_run * size, "{}", column.name);
    }
    for round in 0..ROUNDS {
        for step in 0..columns.len() {
            let index = (round + step) % columns.len();
            let column = &mut columns[index];
            let start = thread_cpu_ns();
            let bytes = (column.run)(per_run);
            let spent = thread_cpu_ns() - start;
            assert_eq!(bytes, per_run * size, "{}", column.name);
            samples[index].push(spent as f64 / per_run as f64);
        }
    }
    columns
        .iter()
        .zip(samples)
        .map(|(column, mut times)| {
            times.sort_by(f64::total_cmp);
            (column.name, times[times.len() / 2])
        })
        .collect()
}

/// Messages sent per timed batch: their payloads (32-byte allocations at
/// 16 B) stay in cache between being made and being sent.
const SEND_BATCH: usize = 4096;
/// Timed batches per round and column.
const SEND_BATCHES: usize = 64;

/// The transport of the send columns: copies every byte it is given once,
/// into a reused buffer (the kernel's copy into a socket buffer).
struct Sink {
    buf: Vec<u8>,
    len: usize,
}

impl Sink {
    fn new() -> Self {
        Sink {
            buf: vec![0; 64 << 10],
            len: 0,
        }
    }

    fn copy(&mut self, bytes: &[u8]) -> usize {
        if self.len + bytes.len() > self.buf.len() {
            self.len = 0;
        }
        let n = bytes.len().min(self.buf.len());
        self.buf[self.len..self.len + n].copy_from_slice(&bytes[..n]);
        self.len += n;
        n
    }
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(self.copy(buf))
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        Ok(bufs.iter().map(|b| self.copy(b)).sum())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl AsyncRead for Sink {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        _: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Sink {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(self.get_mut().copy(buf)))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Writes what `conn` holds into `sink`, one vectored write of its next
/// chunks at a time.
#[inline(always)]
fn write_out(conn: &mut Connection, sink: &mut Sink) {
    loop {
        let mut chunks = [&[][..]; 4];
        let n = conn.pending_transmit_chunks(&mut chunks);
        if n == 0 {
            return;
        }
        let slices = chunks.map(IoSlice::new);
        let written = sink.write_vectored(&slices[..n]).expect("in memory");
        conn.advance_transmit(written);
    }
}

/// Sends the batch it is given, emptying it.
type SendBatch = Box<dyn FnMut(&mut Vec<Vec<u8>>)>;

/// One send column: `send` sends the payloads it is given (owned columns)
/// or as many messages from its own buffer (borrowed ones, given empty
/// payloads to count).
struct SendColumn {
    name: &'static str,
    owned: bool,
    send: SendBatch,
}

fn send_columns(size: usize) -> Vec<SendColumn> {
    let mut owned = Connection::new(Role::Server, Config::default());
    let mut owned_sink = Sink::new();
    let mut borrowed = Connection::new(Role::Server, Config::default());
    let mut borrowed_sink = Sink::new();
    let mut reused = vec![7u8; size];
    let mut fws_owned =
        fastwebsockets::WebSocket::after_handshake(Sink::new(), fastwebsockets::Role::Server);
    let mut fws_borrowed =
        fastwebsockets::WebSocket::after_handshake(Sink::new(), fastwebsockets::Role::Server);
    let mut fws_reused = vec![7u8; size];
    vec![
        SendColumn {
            name: "wsproto owned",
            owned: true,
            send: Box::new(move |batch| {
                for payload in batch.drain(..) {
                    owned.send_binary_owned(payload).expect("open");
                    write_out(&mut owned, &mut owned_sink);
                }
            }),
        },
        SendColumn {
            name: "wsproto borrowed",
            owned: false,
            send: Box::new(move |batch| {
                for _ in batch.drain(..) {
                    borrowed.send_binary(black_box(&reused)).expect("open");
                    write_out(&mut borrowed, &mut borrowed_sink);
                }
                black_box(&mut reused);
            }),
        },
        SendColumn {
            name: "fws owned",
            owned: true,
            send: Box::new(move |batch| {
                for payload in batch.drain(..) {
                    let frame =
                        fastwebsockets::Frame::binary(fastwebsockets::Payload::Owned(payload));
                    block_on(fws_owned.write_frame(frame)).expect("open");
                }
            }),
        },
        SendColumn {
            name: "fws borrowed",
            owned: false,
            send: Box::new(move |batch| {
                for _ in batch.drain(..) {
                    let frame = fastwebsockets::Frame::binary(
                        fastwebsockets::Payload::BorrowedMut(black_box(&mut fws_reused)),
                    );
                    block_on(fws_borrowed.write_frame(frame)).expect("open");
                }
            }),
        },
    ]
}

/// Median thread-CPU nanoseconds per message sent, for each send column.
fn measure_sends(size: usize) -> Vec<(&'static str, f64)> {
    let mut columns = send_columns(size);
    let payload = vec![7u8; size];
    let mut batch: Vec<Vec<u8>> = Vec::with_capacity(SEND_BATCH);
    // A borrowed column's batch holds empty vectors: they only count, and
    // cost nothing to make or drop.
    let fill = |batch: &mut Vec<Vec<u8>>, owned: bool| {
        batch.extend((0..SEND_BATCH).map(|_| if owned { payload.clone() } else { Vec::new() }))
    };
    let mut run = |column: &mut SendColumn| {
        let mut spent = 0;
        for _ in 0..SEND_BATCHES {
            fill(&mut batch, column.owned);
            let start = thread_cpu_ns();
            (column.send)(&mut batch);
            spent += thread_cpu_ns() - start;
        }
        spent as f64 / (SEND_BATCHES * SEND_BATCH) as f64
    };
    for column in &mut columns {
        run(column);
    }
    let mut samples = vec![Vec::with_capacity(ROUNDS); columns.len()];
    for round in 0..ROUNDS {
        for step in 0..columns.len() {
            let index = (round + step) % columns.len();
            samples[index].push(run(&mut columns[index]));
        }
    }
    columns
        .iter()
        .zip(samples)
        .map(|(column, mut times)| {
            times.sort_by(f64::total_cmp);
            (column.name, times[times.len() / 2])
        })
        .collect()
}

fn sends(filter: &[&String]) {
    println!();
    println!(
        "Sends, server, binary: median thread-CPU ns per message over {ROUNDS} interleaved rounds"
    );
    println!(
        "{:<18} {:>14} {:>16} {:>14} {:>14} {:>14} {:>16}",
        "case",
        "wsproto owned",
        "wsproto borrowed",
        "fws owned",
        "fws borrowed",
        "owned vs fws",
        "borrowed vs fws"
    );
    for size in [16, 125] {
        let name = format!("send/{size}");
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        let figures = measure_sends(size);
        let get = |col: &str| {
            figures
                .iter()
                .find(|(n, _)| *n == col)
                .map_or(f64::NAN, |(_, ns)| *ns)
        };
        println!(
            "{:<18} {:>14.1} {:>16.1} {:>14.1} {:>14.1} {:>13.2}x {:>15.2}x",
            name,
            get("wsproto owned"),
            get("wsproto borrowed"),
            get("fws owned"),
            get("fws borrowed"),
            get("fws owned") / get("wsproto owned"),
            get("fws borrowed") / get("wsproto borrowed"),
        );
    }
    println!(
        "owned vs fws: fws owned's time over wsproto owned's; borrowed vs fws: fws borrowed's over wsproto borrowed's (above 1: wsproto is faster)."
    );
}

fn main() {
    // `cargo test --benches` runs benches without `--bench`: nothing to
    // measure then (CI only builds this).
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|arg| arg == "--bench") {
        return;
    }
    let filter: Vec<&String> = args.iter().filter(|arg| !arg.starts_with("--")).collect();
    let cases = [
        (Payload::Binary, 16),
        (Payload::Binary, 125),
        (Payload::Binary, 64 << 10),
        (Payload::Binary, 1 << 20),
        (Payload::TextAscii, 125),
        (Payload::TextMixed, 125),
        (Payload::TextMixed, 1 << 20),
    ];
    println!(
        "Owned messages, server decode of masked frames: median thread-CPU ns per message over {ROUNDS} interleaved rounds"
    );
    println!(
        "{:<18} {:>14} {:>14} {:>14} {:>14} {:>12} {:>10} {:>10} {:>10}",
        "case",
        "wsproto owned",
        "wsproto recv",
        "fastwebsockets",
        "tungstenite",
        "limit",
        "vs fws",
        "vs tung",
        "of limit"
    );
    for (kind, size) in cases {
        let name = format!("{}/{}", kind.name(), size);
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        let figures = measure(kind, size);
        let get = |col: &str| figures.iter().find(|(n, _)| *n == col).map(|(_, ns)| *ns);
        let owned = get("wsproto owned").expect("measured");
        let ratio =
            |col: &str| get(col).map_or("-".to_string(), |ns| format!("{:.2}x", ns / owned));
        let show = |col: &str| get(col).map_or("-".to_string(), |ns| format!("{ns:.1}"));
        let of_limit = get("limit").map_or("-".to_string(), |ns| format!("{:.2}", ns / owned));
        println!(
            "{:<18} {:>14} {:>14} {:>14} {:>14} {:>12} {:>10} {:>10} {:>10}",
            name,
            show("wsproto owned"),
            show("wsproto recv"),
            show("fastwebsockets"),
            show("tungstenite"),
            show("limit"),
            ratio("fastwebsockets"),
            ratio("tungstenite"),
            of_limit
        );
    }
    println!(
        "vs fws / vs tung: the peer's time over wsproto owned's (above 1: wsproto is faster); of limit: the limit's time over wsproto owned's."
    );
    sends(&filter);
}
