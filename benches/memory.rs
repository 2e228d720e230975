//! Memory one idle connection costs: its `size_of` and the heap it holds,
//! for wsproto (streaming and message level), tungstenite and
//! fastwebsockets, in the server role after the opening handshake.
//!
//! A counting global allocator tracks live heap bytes. 1000 connections are
//! created over an in-memory transport that owns no heap and kept in a
//! pre-reserved `Vec`; the live bytes they added, divided by 1000, are the
//! heap of a fresh connection. Then each receives one masked 16-byte binary
//! message and echoes it, and the live bytes are read again: what stays
//! allocated after first use (read buffers grown on first read, write
//! buffers kept for reuse). The application's own read buffer for
//! `recv_in_place` is on the stack and not counted: it belongs to the
//! caller and can be shared by every connection a thread serves.
//!
//! For tungstenite and fastwebsockets, `size_of` is that of `WebSocket<S>`
//! minus `size_of::<S>()` (S is a 24-byte in-memory stream): the part the
//! library adds, give or take padding.
//!
//! Run: `cargo bench --bench memory`. CI only builds it
//! (`cargo bench --no-run`).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use wsproto::bytes::BytesMut;
use wsproto::{
    Config, Connection, ConnectionError, Event, MessageKind, Role, StreamEvent, Streaming,
};

#[path = "support/peers.rs"]
mod peers;

use peers::{Mem, block_on, masked_frames};

/// Connections per measurement: enough to average out allocator rounding.
const CONNECTIONS: usize = 1000;
/// The echoed message's payload size.
const PAYLOAD: usize = 16;

/// Wraps the system allocator to count live bytes and allocations.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to `System` unchanged; only counters are
// added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `alloc`'s contract, passed on as is.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            LIVE.fetch_add(layout.size(), Relaxed);
            ALLOCATIONS.fetch_add(1, Relaxed);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as `alloc`.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            LIVE.fetch_add(layout.size(), Relaxed);
            ALLOCATIONS.fetch_add(1, Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as `alloc`.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as `alloc`.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            LIVE.fetch_sub(layout.size(), Relaxed);
            LIVE.fetch_add(new_size, Relaxed);
            ALLOCATIONS.fetch_add(1, Relaxed);
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn counters() -> (usize, usize) {
    (LIVE.load(Relaxed), ALLOCATIONS.load(Relaxed))
}

/// One row of the table.
struct Row {
    name: &'static str,
    size_of: usize,
    /// Heap bytes per connection, fresh and after one echo.
    fresh: usize,
    after_echo: usize,
    /// Allocations per connection: to create it, and during its echo.
    fresh_allocs: usize,
    echo_allocs: usize,
}

/// Creates `CONNECTIONS` connections with `make`, echoes one message on
/// each with `echo`, and reads the counters between the steps.
fn measure<C>(
    name: &'static str,
    size_of: usize,
    mut make: impl FnMut() -> C,
    mut echo: impl FnMut(&mut C),
) -> Row {
    // Reserved up front, so the Vec's own growth is not counted.
    let mut conns = Vec::with_capacity(CONNECTIONS);
    let (live0, allocs0) = counters();
    for _ in 0..CONNECTIONS {
        conns.push(make());
    }
    let (live1, allocs1) = counters();
    for conn in &mut conns {
        echo(conn);
    }
    let (live2, allocs2) = counters();
    drop(conns);
    Row {
        name,
        size_of,
        fresh: (live1 - live0) / CONNECTIONS,
        after_echo: (live2 - live0) / CONNECTIONS,
        fresh_allocs: (allocs1 - allocs0) / CONNECTIONS,
        echo_allocs: (allocs2 - allocs1) / CONNECTIONS,
    }
}

/// Echoes the message-level `event` (one binary message of `payload`),
/// written out in place as the streaming row does, so the message rows
/// differ from it only in how they receive.
fn echo(conn: &mut Connection, event: Result<Option<Event>, ConnectionError>, payload: &[u8]) {
    let Ok(Some(Event::Binary(data))) = event else {
        panic!("expected a binary message, got {event:?}");
    };
    assert_eq!(data, payload);
    conn.send_binary(&data).expect("open");
    let n = conn.pending_transmit().len();
    assert_eq!(n, PAYLOAD + 2);
    conn.advance_transmit(n);
}

fn main() {
    let payload: Vec<u8> = (0..PAYLOAD as u8).collect();
    // One masked frame shared (read-only) by every connection's transport,
    // leaked so the transports hold a `&'static` and own no heap.
    let frame: &'static [u8] = masked_frames(MessageKind::Binary, &payload, 1).leak();

    let rows = [
        measure(
            "wsproto streaming (recv_in_place)",
            size_of::<Connection<Streaming>>(),
            || Connection::new(Role::Server, Config::default()).into_streaming(),
            |conn| {
                // The caller's read buffer, on the stack.
                let mut buf = [0u8; 64];
                buf[..frame.len()].copy_from_slice(frame);
                let mut received = [0u8; PAYLOAD];
                match conn.recv_in_place(&mut buf[..frame.len()]) {
                    Ok((_, Some(StreamEvent::Data { payload, fin, .. }))) if fin => {
                        received.copy_from_slice(payload)
                    }
                    other => panic!("unexpected {other:?}"),
                }
                assert_eq!(received[..], payload[..]);
                conn.send_binary(&received).expect("open");
                // Written to the transport in place, the way that copies least.
                let n = conn.pending_transmit().len();
                assert_eq!(n, PAYLOAD + 2);
                conn.advance_transmit(n);
            },
        ),
        measure(
            "wsproto message (recv + poll_event)",
            size_of::<Connection>(),
            || Connection::new(Role::Server, Config::default()),
            |conn| {
                conn.recv(frame);
                let event = conn.poll_event();
                echo(conn, event, &payload);
            },
        ),
        measure(
            "wsproto owned (poll_event_from)",
            size_of::<Connection>(),
            || Connection::new(Role::Server, Config::default()),
            |conn| {
                // The caller's read buffer, let go once the message is out,
                // as a driver that reads into a fresh `BytesMut` does.
                let mut buf = BytesMut::from(frame);
                let event = conn.poll_event_from(&mut buf);
                echo(conn, event, &payload);
            },
        ),
        measure(
            "tungstenite",
            size_of::<tungstenite::WebSocket<Mem<'static>>>() - size_of::<Mem<'static>>(),
            || {
                tungstenite::WebSocket::from_raw_socket(
                    Mem::new(frame),
                    tungstenite::protocol::Role::Server,
                    None,
                )
            },
            |ws| {
                let tungstenite::Message::Binary(data) = ws.read().expect("a message") else {
                    panic!("expected a binary message");
                };
                assert_eq!(data[..], payload[..]);
                ws.send(tungstenite::Message::Binary(data)).expect("sent");
                assert_eq!(ws.get_ref().written(), PAYLOAD + 2);
            },
        ),
        measure(
            "fastwebsockets",
            size_of::<fastwebsockets::WebSocket<Mem<'static>>>() - size_of::<Mem<'static>>(),
            || {
                fastwebsockets::WebSocket::after_handshake(
                    Mem::new(frame),
                    fastwebsockets::Role::Server,
                )
            },
            |ws| {
                let received = block_on(ws.read_frame()).expect("a frame");
                assert_eq!(received.opcode, fastwebsockets::OpCode::Binary);
                assert_eq!(received.payload[..], payload[..]);
                // Echo the frame as received, as fastwebsockets' examples do.
                block_on(ws.write_frame(received)).expect("sent");
                block_on(ws.flush()).expect("flushed");
            },
        ),
    ];

    println!(
        "Memory per idle server connection ({CONNECTIONS} connections, echo of one {PAYLOAD}-byte message):"
    );
    println!(
        "{:<36} {:>8} {:>12} {:>8} {:>12} {:>8}",
        "library/level", "size_of", "heap fresh", "allocs", "heap echoed", "allocs"
    );
    for row in &rows {
        println!(
            "{:<36} {:>8} {:>12} {:>8} {:>12} {:>8}",
            row.name, row.size_of, row.fresh, row.fresh_allocs, row.after_echo, row.echo_allocs
        );
    }
    println!(
        "size_of: tungstenite and fastwebsockets are WebSocket<S> minus size_of::<S>() ({} bytes).",
        size_of::<Mem<'static>>()
    );
    println!(
        "heap: live bytes per connection; allocs: allocations to create one / during its echo."
    );
}
