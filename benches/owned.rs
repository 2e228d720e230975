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

use std::hint::black_box;

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
use peers::{KEY, masked_frames};
use wsproto::frame::apply_mask;

/// Rounds per case: each column runs once per round.
const ROUNDS: usize = 9;
/// Payload decoded per timed run, at least (whole messages).
const BYTES_PER_RUN: usize = 4 << 20;

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
    let per_run = (BYTES_PER_RUN / size).max(1);
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
}
