//! What an idle connection costs: `size_of::<Connection>()` and the heap it
//! holds (a counting allocator, per thread). `benches/memory.rs` puts the same figures next to
//! tungstenite and fastwebsockets.

#![cfg(feature = "std")]

use crate::counting;

use wsproto::{Config, Connection, Control, MessageKind, Role, StreamEvent, Streaming};

/// Heap this thread holds (net of what it freed).
fn held() -> isize {
    counting::held() as isize
}

/// A masked client frame (FIN set) with `opcode` and `payload`.
fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let key = [0x11, 0x22, 0x33, 0x44];
    let mut frame = vec![0x80 | opcode];
    match payload.len() {
        len @ 0..=125 => frame.push(0x80 | len as u8),
        len => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(len as u16).to_be_bytes());
        }
    }
    frame.extend_from_slice(&key);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    frame
}

/// Streams `wire` into `conn` in pieces of `chunk` bytes; returns the data
/// bytes and the number of pings seen.
fn stream(conn: &mut Connection<Streaming>, wire: &[u8], chunk: usize) -> (Vec<u8>, usize) {
    let (mut data, mut pings) = (Vec::new(), 0);
    for piece in wire.chunks(chunk) {
        let mut piece = piece.to_vec();
        let mut at = 0;
        loop {
            let (used, event) = conn.recv_in_place(&mut piece[at..]).expect("valid");
            at += used;
            match event {
                Some(StreamEvent::Data { payload, .. }) => data.extend_from_slice(payload),
                Some(StreamEvent::Control(Control::Ping(_))) => pings += 1,
                Some(other) => panic!("unexpected {other:?}"),
                None => break,
            }
        }
    }
    (data, pings)
}

#[test]
fn an_idle_server_connection_is_small_and_holds_no_heap() {
    // 128 bytes before the timers and backpressure: the outbox's frame
    // boundary, its high-water mark, the run of owed frames at its end and
    // the close timeout took 32 more; the single outbox queue (issue 19,
    // item 6) keeps its frame ends and owed frames in a box made when
    // needed, and gave 8 back (152). The one close state (item 5) holds
    // the error that ended the connection inline, in the state it ends
    // (it was in the extras box): 184, under the bound of 192.
    #[cfg(target_pointer_width = "64")]
    assert!(
        size_of::<Connection>() <= 192,
        "size_of::<Connection>() is {}",
        size_of::<Connection>()
    );

    // Whole frames, then the same cut into 1- and 3-byte reads (headers and
    // a ping's payload split across reads); the streaming level keeps
    // nothing once each is through.
    let mut wire = client_frame(0x2, &[7; 300]);
    wire.extend(client_frame(0x9, b"are you there?"));
    wire.extend(client_frame(0x1, "héllo".as_bytes()));

    let before = held();
    let mut server = Connection::new(Role::Server, Config::default()).into_streaming();
    assert_eq!(held(), before, "a new connection allocated");
    for chunk in [wire.len(), 1, 3] {
        let (data, pings) = stream(&mut server, &wire, chunk);
        assert_eq!(data.len(), 300 + "héllo".len());
        assert_eq!(pings, 1);
        drop(data);
        // The automatic pong went into the outbox: write it out, and keep
        // the outbox's capacity out of the count by measuring around it.
        let mut out = Vec::new();
        server.poll_transmit(&mut out);
        assert_eq!(out[0], 0x8a, "the pong");
        drop(out);
        assert_eq!(
            held(),
            before,
            "heap held after streaming in {chunk}-byte reads"
        );
    }

    // Sending in place queues a header only; once written, nothing is held.
    let mut payload = vec![1u8; 1000];
    let before_send = held();
    let mut out = server
        .send_in_place(MessageKind::Binary, &mut payload)
        .expect("open");
    let [header, body] = out.chunks();
    let written = header.len() + body.len();
    out.advance(written);
    drop(out);
    let mut rest = Vec::new();
    assert_eq!(server.poll_transmit(&mut rest), 0);
    drop(rest);
    assert_eq!(held(), before_send, "send_in_place kept heap");
}

#[test]
fn a_drained_outbox_lets_go_of_a_large_buffer_and_of_held_payloads() {
    let before = held();
    let mut server = Connection::new(Role::Server, Config::default());
    // A large copied send: the outbox grows to hold it, and lets go of it
    // once it is written (it used to keep 64 KiB for ever).
    server.send_binary(&vec![1u8; 64 << 10]).expect("open");
    while !server.pending_transmit().is_empty() {
        let n = server.pending_transmit().len().min(5000);
        server.advance_transmit(n);
    }
    assert_eq!(held(), before, "a drained 64 KiB outbox kept heap");

    // A large owned send: only the header is in the outbox, and the
    // payload is dropped once written (a pong owed meanwhile included).
    let payload = vec![2u8; 100_000];
    server.send_binary_owned(payload).expect("open");
    server.recv(&client_frame(0x9, b"ping"));
    assert!(matches!(server.poll_event(), Ok(Some(_))));
    while !server.pending_transmit().is_empty() {
        let mut chunks = [&[][..]; 4];
        let n = server.pending_transmit_chunks(&mut chunks);
        let len: usize = chunks[..n].iter().map(|c| c.len()).sum();
        server.advance_transmit(len.min(30_000));
    }
    // What is left is the outbox's small buffer (the header's), kept for
    // the next frames.
    let kept = held() - before;
    assert!((0..=64).contains(&kept), "{kept} bytes kept");
    drop(server);
    assert_eq!(held(), before);
}

/// A drained outbox keeps a buffer as large as the largest frame copied
/// into it (up to 4 KiB and a header), so that small sends allocate
/// nothing; `release_send_buffer` lets it go for a connection about to sit
/// idle (the tokio driver takes it with `take_send_buffer` before it waits,
/// to hand it to the next connection that wakes), and does nothing while
/// bytes wait.
#[test]
fn release_send_buffer_lets_a_drained_outbox_go() {
    let before = held();
    let mut server = Connection::new(Role::Server, Config::default());
    server.send_binary(&[7; 3000]).expect("open");
    let queued = server.pending_transmit().len();
    server.release_send_buffer();
    assert_eq!(
        server.pending_transmit().len(),
        queued,
        "nothing waiting is lost"
    );
    server.advance_transmit(queued - 1);
    server.release_send_buffer();
    assert_eq!(server.pending_transmit(), [7], "nor its last byte");
    server.advance_transmit(1);
    assert!(
        held() - before >= 3000,
        "the drained outbox keeps its buffer"
    );
    server.release_send_buffer();
    assert_eq!(held(), before, "released");
    // The next send allocates again and goes out whole.
    server.send_binary(b"again").expect("open");
    assert_eq!(server.pending_transmit(), b"\x82\x05again");
    server.advance_transmit(7);
    server.release_send_buffer();
    assert_eq!(held(), before);
}

/// `take_send_buffer` hands the drained outbox's buffer over instead of
/// freeing it, and `provide_send_buffer` gives one back: the next small
/// send on any connection is queued in it without allocating. Neither
/// touches a buffer while bytes wait.
#[test]
fn a_send_buffer_moves_between_connections() {
    let mut first = Connection::new(Role::Server, Config::default());
    let mut second = Connection::new(Role::Server, Config::default());
    first.send_binary(&[7; 300]).expect("open");
    assert_eq!(first.take_send_buffer(), None, "bytes wait");
    let queued = first.pending_transmit().len();
    first.advance_transmit(queued);
    let buf = first.take_send_buffer().expect("the drained buffer");
    assert!(buf.is_empty() && buf.capacity() >= queued);
    assert_eq!(first.take_send_buffer(), None, "taken");

    second.provide_send_buffer(buf);
    let before = held();
    second.send_binary(b"again").expect("open");
    assert_eq!(held(), before, "queued in the provided buffer");
    assert_eq!(second.pending_transmit(), b"\x82\x05again");
    // While bytes wait, a buffer offered is dropped, not swapped in.
    second.provide_send_buffer(Vec::with_capacity(64));
    assert_eq!(second.pending_transmit(), b"\x82\x05again");
    // Larger than the connection would keep itself: dropped too.
    first.provide_send_buffer(Vec::with_capacity(1 << 20));
    assert_eq!(first.take_send_buffer(), None);
}

/// The message level holds no heap between messages either, with either
/// input (`recv` + `poll_event`, or the caller's `BytesMut`), once the
/// messages it handed out are dropped: whole, fragmented (gathered in the
/// connection's extras box) and split across reads.
#[test]
fn an_idle_message_level_connection_holds_no_heap() {
    let mut first = client_frame(0x1, b"frag");
    first[0] &= 0x7f; // not FIN: a fragmented text message
    let mut wire = client_frame(0x2, &[7; 300]);
    wire.extend(first);
    wire.extend(client_frame(0x9, b"ping between"));
    wire.extend(client_frame(0x0, "mented, héllo".as_bytes()));
    for from_buffer in [false, true] {
        for chunk in [wire.len(), 1, 3] {
            let before = held();
            let mut server = Connection::new(Role::Server, Config::default());
            let mut buf = wsproto::bytes::BytesMut::new();
            let mut events = Vec::new();
            for piece in wire.chunks(chunk) {
                if from_buffer {
                    buf.extend_from_slice(piece);
                    while let Some(event) = server.poll_event_from(&mut buf).expect("valid") {
                        events.push(event);
                    }
                } else {
                    server.recv(piece);
                    while let Some(event) = server.poll_event().expect("valid") {
                        events.push(event);
                    }
                }
            }
            assert_eq!(events.len(), 3, "binary, ping, text");
            assert_eq!(
                events[2],
                wsproto::Event::Text("fragmented, héllo".into()),
                "{from_buffer} {chunk}"
            );
            drop(events);
            drop(buf);
            let mut out = Vec::new();
            server.poll_transmit(&mut out);
            drop(out);
            // The connection itself, on the stack, holds nothing.
            assert_eq!(
                held(),
                before,
                "heap held after messages in {chunk}-byte reads (buffer: {from_buffer})"
            );
            drop(server);
        }
    }
}
