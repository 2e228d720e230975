//! What an idle `WebSocket` holds on the heap once it waits for input after
//! an echo: nothing, whatever the size of the message (its read buffer and
//! the connection's send buffer are let go before it waits, to a few spares
//! the thread keeps for the next connection that wakes; those spares do not
//! grow with the connections); and that connections which end, however
//! many and whatever they held, give all of it back. A counting allocator,
//! per thread, in a test binary of its own; the driver is polled by hand
//! over a scripted transport that owns no heap of its own.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::Future;
use std::io;
use std::pin::{Pin, pin};
use std::task::{Context, Poll, Waker};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use wsproto::{Config, Connection, Role};
use wsproto_tokio::WebSocket;

thread_local! {
    // High, so that freeing what another thread allocated cannot wrap it.
    static HELD: Cell<usize> = const { Cell::new(1 << 40) };
}

/// Counts the heap each thread holds; `const` thread-locals of `Cell`s
/// never allocate, so counting never re-enters the allocator.
struct Counting;

// SAFETY: every call is forwarded unchanged to the system allocator; the
// counter is only bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = HELD.try_with(|held| held.set(held.get() + layout.size()));
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let _ = HELD.try_with(|held| held.set(held.get() - layout.size()));
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn held() -> usize {
    HELD.with(Cell::get)
}

/// Hands out its input, then waits for ever; counts what is written.
struct Script {
    input: Vec<u8>,
    at: usize,
    written: usize,
}

impl AsyncRead for Script {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.at == this.input.len() {
            return Poll::Pending;
        }
        let n = buf.remaining().min(this.input.len() - this.at);
        buf.put_slice(&this.input[this.at..this.at + n]);
        this.at += n;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Script {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.written += buf.len();
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// A masked binary frame of `len` bytes and its unmasked header's length.
fn masked_binary(len: usize) -> (Vec<u8>, usize) {
    let mut frame = vec![0x82];
    if len < 126 {
        frame.push(0x80 | len as u8);
    } else {
        frame.push(0x80 | 126);
        frame.extend_from_slice(&(len as u16).to_be_bytes());
    }
    let header = frame.len();
    let key = [0x37, 0xfa, 0x21, 0x3d];
    frame.extend_from_slice(&key);
    frame.extend((0..len).map(|i| (i as u8) ^ key[i % 4]));
    (frame, header)
}

/// One echo on a new `WebSocket` over `input`, polled until it waits for
/// more input; returns it, idle, and checks the echo went out.
fn echo_once(input: Vec<u8>, echo_len: usize) -> WebSocket<Script> {
    let mut cx = Context::from_waker(Waker::noop());
    let conn = Connection::new(Role::Server, Config::default());
    let script = Script {
        input,
        at: 0,
        written: 0,
    };
    let mut ws = WebSocket::from_connection(script, conn);
    let message = match pin!(ws.recv()).poll(&mut cx) {
        Poll::Ready(Some(Ok(message))) => message,
        other => panic!("expected the message, got {other:?}"),
    };
    assert!(matches!(
        pin!(ws.feed(message)).poll(&mut cx),
        Poll::Ready(Ok(()))
    ));
    // `recv` writes the echo out, then waits for input.
    assert!(pin!(ws.recv()).poll(&mut cx).is_pending());
    assert_eq!(ws.get_ref().written, echo_len, "the echo went out");
    ws
}

#[test]
fn an_idle_websocket_holds_no_heap_after_an_echo() {
    // Copied into the send buffer (under 4 KiB), and sent by reference.
    for size in [16, 3000, 16 << 10] {
        let (input, header) = masked_binary(size);
        // The first connection's buffers become the thread's spares.
        drop(echo_once(input.clone(), header + size));
        // Their scripts hold input: made before counting.
        let inputs = [(); 3].map(|_| input.clone());
        let before = held();
        let idle = inputs.map(|input| echo_once(input, header + size));
        assert_eq!(
            held(),
            before,
            "heap held while idle after echoing {size} bytes"
        );
        drop(idle);
    }
}

#[test]
fn connections_give_back_all_their_heap_when_they_end() {
    // 100 connections, each in the middle of its second message (so each
    // holds a read buffer with half a frame in it), are dropped: all they
    // held comes back, and the spares do not grow with them.
    let size = 16 << 10;
    let (frame, header) = masked_binary(size);
    let input = [&frame[..], &frame[..frame.len() / 2]].concat();
    // Fill the thread's spares first: they stay (a few buffers in all).
    for _ in 0..4 {
        drop(echo_once(input.clone(), header + size));
    }
    let inputs: Vec<Vec<u8>> = (0..100).map(|_| input.clone()).collect();
    // The inputs and their list, all freed by the end.
    let scripts: usize =
        inputs.iter().map(Vec::capacity).sum::<usize>() + inputs.capacity() * size_of::<Vec<u8>>();
    let before = held();
    let open: Vec<WebSocket<Script>> = inputs
        .into_iter()
        .map(|input| echo_once(input, header + size))
        .collect();
    let partial = held() - before;
    assert!(
        partial >= 100 * (frame.len() / 2),
        "each connection holds its half frame: {partial} bytes in all"
    );
    drop(open);
    // Their scripts' input went with them, and the list of inputs before.
    assert_eq!(
        held(),
        before - scripts,
        "heap left behind by 100 ended connections"
    );
}
