//! Backpressure on the sending side: `send_high_water`, `WouldBlock`,
//! `wants_read`, and the control frames the connection owes on its own
//! (automatic pongs), which overtake queued data at a frame boundary and
//! are coalesced while the transport is not keeping up.
//!
//! The transport is simulated: "writing" means copying what
//! `pending_transmit` shows into a `Vec` and reporting it with
//! `advance_transmit`; a stalled transport writes nothing.

#![cfg(feature = "std")]

use crate::common;

use common::*;
use proptest::prelude::*;
use proptest::sample::select;
use wsproto::{
    CloseCode, Config, Connection, Control, Event, MessageKind, Misuse, Role, SendError, State,
    Utf8Bytes,
};

/// The longest control frame: a client's 6-byte header and 125 bytes.
const MAX_CONTROL_FRAME: usize = 131;

fn with_mark(role: Role, high_water: usize) -> Connection {
    let mut config = Config::default();
    config.send_high_water = high_water;
    connection(role, config)
}

/// A frame from the peer of `role` (masked toward a server).
fn from_peer(role: Role, opcode: u8, payload: &[u8]) -> Vec<u8> {
    match role {
        Role::Server => client_frame(true, opcode, payload),
        Role::Client => server_frame(true, opcode, payload),
    }
}

/// Feeds a ping from the peer and polls it, which owes the pong.
fn feed_ping(conn: &mut Connection, payload: &[u8]) {
    conn.recv(&from_peer(conn.role(), OP_PING, payload));
    assert_eq!(conn.poll_event(), ping(payload).map(Some));
    assert_eq!(conn.poll_event(), Ok(None));
}

/// Writes `n` bytes (or what is pending, if less) to `wire`.
fn write(conn: &mut Connection, wire: &mut Vec<u8>, n: usize) -> usize {
    let pending = conn.pending_transmit();
    let n = n.min(pending.len());
    wire.extend_from_slice(&pending[..n]);
    let before = conn.buffered_amount();
    conn.advance_transmit(n);
    assert_eq!(conn.buffered_amount(), before - n, "advance_transmit({n})");
    n
}

/// Drains everything as a driver does: `pending_transmit` /
/// `advance_transmit` in writes of at most `chunk` bytes until empty.
fn drain_in_chunks(conn: &mut Connection, wire: &mut Vec<u8>, chunk: usize) {
    let expected = conn.buffered_amount();
    let start = wire.len();
    while write(conn, wire, chunk) > 0 {}
    assert_eq!(
        wire.len() - start,
        expected,
        "buffered_amount was not the truth"
    );
    assert_eq!(conn.buffered_amount(), 0);
}

/// `(opcode, payload)` of the frames on `wire`, checking each is masked
/// exactly when `role` is a client.
fn frames_of(role: Role, wire: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let frames = parse_frames(wire);
    for frame in &frames {
        assert_eq!(frame.masked, role == Role::Client, "{frame:?}");
    }
    frames.into_iter().map(|f| (f.opcode, f.payload)).collect()
}

fn pongs(frames: &[(u8, Vec<u8>)]) -> Vec<Vec<u8>> {
    let pongs = frames.iter().filter(|(op, _)| *op == OP_PONG);
    pongs.map(|(_, payload)| payload.clone()).collect()
}

fn would_block(buffered: usize, high_water: usize) -> Result<(), SendError> {
    Err(SendError::WouldBlock {
        buffered,
        high_water,
    })
}

// ----- the high-water mark -----

#[test]
fn sends_over_the_mark_would_block_and_queue_nothing() {
    for role in [Role::Server, Role::Client] {
        let key = if role == Role::Client { 4 } else { 0 };
        let mut conn = with_mark(role, 100);
        let mut wire = Vec::new();
        assert!(conn.wants_read());
        // Judged before queuing: a send at or under the mark goes in whole.
        conn.send_binary(&[1; 150]).expect("under the mark");
        let buffered = 4 + key + 150;
        assert_eq!(conn.buffered_amount(), buffered);
        assert!(!conn.wants_read());
        let refused = would_block(buffered, 100);
        assert_eq!(conn.send_text("no"), refused);
        assert_eq!(conn.send_binary(b"no"), refused);
        assert_eq!(conn.send_fragment(MessageKind::Text, b"no", false), refused);
        assert_eq!(conn.send_ping(b"no"), refused);
        assert_eq!(conn.send_pong(b"no"), refused);
        let mut payload = *b"no";
        let in_place = conn.send_in_place(MessageKind::Binary, &mut payload);
        assert_eq!(in_place.err(), refused.err());
        assert_eq!(payload, *b"no", "a refused client send masked the payload");
        assert_eq!(conn.buffered_amount(), buffered, "a refused send queued");
        // Automatic pongs are never refused (and go first: nothing written).
        feed_ping(&mut conn, b"owed");
        let buffered = buffered + 2 + key + 4;
        assert_eq!(conn.buffered_amount(), buffered);
        // Down to exactly the mark (the pong, then part of the binary):
        // reading and sending resume.
        while conn.buffered_amount() > 100 {
            assert!(!conn.wants_read());
            let over = conn.buffered_amount() - 100;
            write(&mut conn, &mut wire, over);
        }
        assert!(conn.wants_read());
        conn.send_text("yes").expect("at the mark");
        assert!(!conn.wants_read());
        assert_eq!(conn.send_text("no"), would_block(100 + 2 + key + 3, 100));
        // The close frame is never refused.
        conn.close(std::time::Instant::now(), CloseCode::NORMAL, "")
            .expect("close over the mark");
        drain_in_chunks(&mut conn, &mut wire, 64);
        let frames = frames_of(role, &wire);
        let sent: Vec<u8> = frames.iter().map(|(op, _)| *op).collect();
        assert_eq!(sent, [OP_PONG, OP_BINARY, OP_TEXT, OP_CLOSE], "{role:?}");
        assert_eq!(frames[1].1, [1; 150]);
        assert_eq!(frames[2].1, b"yes");
        assert_eq!(sent_close_code(&wire), Some(1000));
    }
}

// ----- owed pongs overtake queued data -----

/// A 10 000-byte binary and a text queued after it.
fn big_then_small(role: Role) -> Connection {
    let mut conn = connection(role, Config::default());
    conn.send_binary(&big_payload()).expect("open");
    conn.send_text("later").expect("open");
    conn
}

fn big_payload() -> Vec<u8> {
    (0..10_000u32).map(|i| (i % 251) as u8).collect()
}

#[test]
fn a_pong_overtakes_queued_data_at_the_next_frame_boundary() {
    // 100 bytes written: the pong waits for the end of the binary frame;
    // none written: it goes first. Both ways of draining agree.
    let roles = [Role::Server, Role::Client];
    let setups = roles
        .into_iter()
        .flat_map(|r| [(r, 100, false), (r, 0, false), (r, 3, true)]);
    for (role, written, poll) in setups {
        let key = if role == Role::Client { 4 } else { 0 };
        let mut conn = big_then_small(role);
        let mut wire = Vec::new();
        write(&mut conn, &mut wire, written);
        feed_ping(&mut conn, b"now");
        let big = 4 + key + 10_000;
        let shown = if written > 0 {
            big - written
        } else {
            2 + key + 3
        };
        assert_eq!(conn.pending_transmit().len(), shown);
        let buffered = big - written + 2 * (2 + key) + 3 + 5;
        assert_eq!(conn.buffered_amount(), buffered);
        if poll {
            assert_eq!(conn.poll_transmit(&mut wire), buffered);
        } else {
            drain_in_chunks(&mut conn, &mut wire, 7);
        }
        let mut expected = vec![(OP_BINARY, big_payload()), (OP_TEXT, b"later".to_vec())];
        expected.insert(usize::from(written > 0), (OP_PONG, b"now".to_vec()));
        assert_eq!(frames_of(role, &wire), expected, "{role:?}, {written}");
    }
}

#[test]
fn a_newer_pong_never_overtakes_an_older_one() {
    // Ping 1 is answered into the empty outbox; the application then queues
    // a message, and ping 2's pong must not go out before pong 1.
    let mut server = connection(Role::Server, Config::default());
    feed_ping(&mut server, b"1");
    server.send_text("data").expect("open");
    feed_ping(&mut server, b"2");
    let mut wire = Vec::new();
    drain_in_chunks(&mut server, &mut wire, 100);
    let frames = frames_of(Role::Server, &wire);
    assert_eq!(pongs(&frames), [b"1".to_vec(), b"2".to_vec()]);
}

#[test]
fn a_pong_after_an_in_place_header_was_written_stays_outside_the_frame() {
    let mut server = connection(Role::Server, Config::default());
    let mut payload = big_payload()[..300].to_vec();
    let mut wire = Vec::new();
    let mut out = server
        .send_in_place(MessageKind::Binary, &mut payload)
        .expect("open");
    // A vectored write that took the first buffer (the header) only.
    let [header, _] = out.chunks();
    assert_eq!(header.len(), 4);
    wire.extend_from_slice(header);
    out.advance(4);
    drop(out);
    assert_eq!(server.buffered_amount(), 300);
    feed_ping(&mut server, b"p");
    drain_in_chunks(&mut server, &mut wire, 50);
    assert_eq!(
        frames_of(Role::Server, &wire),
        [
            (OP_BINARY, big_payload()[..300].to_vec()),
            (OP_PONG, b"p".to_vec())
        ]
    );
}

// ----- coalescing -----

#[test]
fn a_ping_flood_over_the_mark_owes_only_the_newest_pong() {
    for role in [Role::Server, Role::Client] {
        let mut conn = with_mark(role, 100);
        let message = 4 + 200 + if role == Role::Client { 4 } else { 0 };
        conn.send_binary(&[9; 200]).expect("empty buffer");
        let mut wire = Vec::new();
        // Big-endian numbers: byte order is numeric order.
        for i in 0..1000u16 {
            feed_ping(&mut conn, &i.to_be_bytes());
            // Now and then the transport takes a byte, starting a pong.
            if i % 100 == 99 {
                write(&mut conn, &mut wire, 1);
            }
            let buffered = conn.buffered_amount();
            assert!(
                buffered <= 100 + message + MAX_CONTROL_FRAME,
                "{buffered} at {i}"
            );
        }
        drain_in_chunks(&mut conn, &mut wire, 13);
        let frames = frames_of(role, &wire);
        let pongs = pongs(&frames);
        assert!(pongs.len() <= 12, "{role:?}: {} pongs", pongs.len());
        assert_eq!(pongs.last(), Some(&999u16.to_be_bytes().to_vec()));
        assert!(pongs.windows(2).all(|w| w[0] < w[1]), "{pongs:?}");
        assert!(frames.contains(&(OP_BINARY, vec![9; 200])));
    }
}

#[test]
fn pongs_alone_over_the_mark_are_coalesced_at_the_tail() {
    // No data queued: pongs join the outbox in order until the mark, then
    // the newest replaces the last one not yet started.
    let mut server = with_mark(Role::Server, 20);
    for i in 0..1000u32 {
        feed_ping(&mut server, &i.to_be_bytes());
        assert!(server.buffered_amount() <= 20 + 6, "at {i}");
    }
    let mut wire = Vec::new();
    drain_in_chunks(&mut server, &mut wire, 4);
    let pongs = pongs(&frames_of(Role::Server, &wire));
    assert_eq!(pongs, [0u32, 1, 2, 999].map(|i| i.to_be_bytes().to_vec()));
}

#[test]
fn under_the_mark_every_ping_gets_its_pong_in_order() {
    // Autobahn case 2.10: ten pings in one read, ten pongs in order.
    for role in [Role::Server, Role::Client] {
        let mut conn = connection(role, Config::default());
        let pings: Vec<Vec<u8>> = (0..10)
            .map(|i| format!("payload {i}").into_bytes())
            .collect();
        let input: Vec<u8> = pings
            .iter()
            .flat_map(|p| from_peer(role, OP_PING, p))
            .collect();
        conn.recv(&input);
        for p in &pings {
            assert_eq!(conn.poll_event(), ping(p).map(Some));
        }
        let mut wire = Vec::new();
        drain_in_chunks(&mut conn, &mut wire, 9);
        assert_eq!(pongs(&frames_of(role, &wire)), pings, "{role:?}");
    }
}

// ----- a peer that sends and never reads -----

const MARK: usize = 1000;
const READ: usize = 512;
/// An echoed message on the wire: a 2-byte header and 13 bytes.
const ECHO_FRAME: usize = 15;

/// An echo server's driver that follows `wants_read`; its application
/// keeps a refused echo and retries it before polling anything else.
struct EchoServer {
    conn: Connection,
    fed: usize,
    backlog: Option<Utf8Bytes>,
    max_buffered: usize,
}

impl EchoServer {
    /// One wake-up: the application works, then the driver reads if
    /// asked to and writes up to `budget`. Whether anything moved.
    fn turn(&mut self, input: &[u8], wire: &mut Vec<u8>, budget: usize) -> bool {
        let mut moved = false;
        loop {
            let message = match self.backlog.take() {
                Some(message) => message,
                None => match self.conn.poll_event() {
                    Ok(Some(Event::Text(message))) => message,
                    Ok(None) => break,
                    other => panic!("unexpected {other:?}"),
                },
            };
            match self.conn.send_text(&message) {
                Ok(()) => moved = true,
                Err(SendError::WouldBlock { .. }) => {
                    self.backlog = Some(message);
                    break;
                }
                Err(other) => panic!("{other:?}"),
            }
            self.max_buffered = self.max_buffered.max(self.conn.buffered_amount());
        }
        if self.conn.wants_read() && self.fed < input.len() {
            let end = (self.fed + READ).min(input.len());
            self.conn.recv(&input[self.fed..end]);
            self.fed = end;
            moved = true;
        }
        moved | (write(&mut self.conn, wire, budget) > 0)
    }
}

#[test]
fn a_server_stops_reading_a_peer_that_does_not_read_and_resumes_later() {
    let messages: Vec<String> = (0..10_000).map(|i| format!("message {i:05}")).collect();
    let input: Vec<u8> = messages
        .iter()
        .flat_map(|m| client_frame(true, OP_TEXT, m.as_bytes()))
        .collect();
    let mut server = EchoServer {
        conn: with_mark(Role::Server, MARK),
        fed: 0,
        backlog: None,
        max_buffered: 0,
    };
    let mut wire = Vec::new();
    // The transport is full: nothing is written, and the server stalls.
    while server.turn(&input, &mut wire, 0) {}
    let max = server.max_buffered;
    assert!(max <= MARK + ECHO_FRAME, "{max}");
    assert!(!server.conn.wants_read());
    assert!(server.fed < input.len() / 20, "read {} bytes", server.fed);
    assert!(server.fed >= MARK, "stopped early: {}", server.fed);
    assert!(wire.is_empty());
    // The peer reads again: everything resumes and completes.
    while server.turn(&input, &mut wire, 4096) {}
    assert_eq!(server.fed, input.len());
    assert_eq!(server.backlog, None);
    assert!(server.max_buffered <= MARK + ECHO_FRAME);
    assert_eq!(server.conn.buffered_amount(), 0);
    let echoed: Vec<_> = messages
        .into_iter()
        .map(|m| (OP_TEXT, m.into_bytes()))
        .collect();
    assert!(
        frames_of(Role::Server, &wire) == echoed,
        "not all echoed in order"
    );
    assert_eq!(server.conn.state(), State::Open);
}

#[test]
fn a_driver_ignoring_wants_read_still_holds_bounded_memory() {
    // The driver reads everything; the application drops refused echoes.
    // Pings among the messages owe coalesced pongs on top.
    let mut server = with_mark(Role::Server, MARK);
    let mut input = Vec::new();
    for i in 0..10_000u32 {
        let message = format!("message {i:05}");
        input.extend(client_frame(true, OP_TEXT, message.as_bytes()));
        if i % 10 == 0 {
            input.extend(client_frame(true, OP_PING, &i.to_be_bytes()));
        }
    }
    let (mut accepted, mut dropped, mut last_ping) = (Vec::new(), 0, None);
    for read in input.chunks(READ) {
        server.recv(read);
        while let Some(event) = server.poll_event().expect("valid input") {
            match event {
                Event::Text(message) => match server.send_text(&message) {
                    Ok(()) => accepted.push((OP_TEXT, message.as_bytes().to_vec())),
                    Err(SendError::WouldBlock { .. }) => dropped += 1,
                    Err(other) => panic!("{other:?}"),
                },
                Event::Control(Control::Ping(payload)) => last_ping = Some(payload.to_vec()),
                other => panic!("unexpected {other:?}"),
            }
            let buffered = server.buffered_amount();
            assert!(buffered <= MARK + ECHO_FRAME + 6, "{buffered}");
        }
    }
    assert!(dropped > 9_000, "only {dropped} dropped");
    let mut wire = Vec::new();
    drain_in_chunks(&mut server, &mut wire, 100);
    let frames = frames_of(Role::Server, &wire);
    let texts: Vec<_> = frames.iter().filter(|f| f.0 == OP_TEXT).cloned().collect();
    assert!(texts == accepted, "the accepted echoes, in order");
    assert_eq!(pongs(&frames).last(), last_ping.as_ref());
}

// ----- random operations -----

#[derive(Clone, Debug)]
enum Op {
    /// `(text, payload, fin)`: a whole message when `fin` is `None`, else
    /// one fragment. Text payloads are ASCII, so always valid UTF-8.
    Send(bool, Vec<u8>, Option<bool>),
    /// `(text, payload, steps, budget)`: `send_in_place`, then up to
    /// `budget` bytes of its chunks written in writes of `steps` (cycled),
    /// then dropped.
    InPlace(bool, Vec<u8>, Vec<usize>, usize),
    /// `(text, payload)`: `send_text_owned` / `send_binary_owned`, large
    /// payloads queued by reference.
    Owned(bool, Vec<u8>),
    /// A ping from the peer, fed and polled.
    PeerPing(Vec<u8>),
    Write(usize),
    PollTransmit,
}

/// `(text, payload)`, the payload ASCII when text.
fn payload() -> impl Strategy<Value = (bool, Vec<u8>)> {
    let bytes = prop::collection::vec(any::<u8>(), 0..300);
    (any::<bool>(), bytes).prop_map(|(text, mut payload)| {
        if text {
            payload.iter_mut().for_each(|b| *b = b' ' + *b % 95);
        }
        (text, payload)
    })
}

fn op() -> impl Strategy<Value = Op> {
    let steps = prop::collection::vec(1usize..64, 1..4);
    prop_oneof![
        6 => (payload(), prop::option::of(any::<bool>()))
            .prop_map(|((text, payload), fin)| Op::Send(text, payload, fin)),
        2 => (any::<bool>(), 0usize..6000).prop_map(|(text, len)| {
            Op::Owned(text, (0..len).map(|i| b' ' + (i % 95) as u8).collect())
        }),
        2 => (payload(), steps, 0usize..400)
            .prop_map(|((text, payload), steps, budget)| Op::InPlace(text, payload, steps, budget)),
        4 => prop::collection::vec(any::<u8>(), 0..10).prop_map(Op::PeerPing),
        4 => (0usize..400).prop_map(Op::Write),
        1 => Just(Op::PollTransmit),
    ]
}

fn kind_of(text: bool) -> (MessageKind, u8) {
    [
        (MessageKind::Binary, OP_BINARY),
        (MessageKind::Text, OP_TEXT),
    ][usize::from(text)]
}

/// What the application is told for a send given the buffer and the
/// fragmented message in progress: the mark first, then the message.
fn expected_send(before: usize, mark: usize, in_progress: bool) -> Result<(), SendError> {
    if before > mark {
        would_block(before, mark)
    } else if in_progress {
        Err(SendError::Misuse(Misuse::MessageInProgress))
    } else {
        Ok(())
    }
}

/// `send_in_place` of a copy of `payload`; writes up to `budget` bytes of
/// its chunks to `wire` in writes of `steps` (cycled), then drops it.
/// Returns how many bytes were still to be written at the drop.
fn write_in_place(
    conn: &mut Connection,
    (text, payload): (bool, &[u8]),
    steps: &[usize],
    mut budget: usize,
    wire: &mut Vec<u8>,
) -> Result<usize, SendError> {
    let mut lent = payload.to_vec();
    let mut out = conn.send_in_place(kind_of(text).0, &mut lent)?;
    for &step in steps.iter().cycle() {
        let remaining = out.remaining();
        let [first, second] = out.chunks();
        let chunk = if first.is_empty() { second } else { first };
        let n = step.min(chunk.len()).min(budget);
        if n == 0 {
            assert!(!chunk.is_empty() || remaining == 0, "{remaining} left");
            break;
        }
        wire.extend_from_slice(&chunk[..n]);
        out.advance(n);
        assert_eq!(out.remaining(), remaining - n);
        budget -= n;
    }
    Ok(out.remaining())
}

/// Runs `ops` on a `role` connection, drains it and checks the wire: every
/// frame well formed and masked as the role requires, the data frames
/// exactly those accepted, in order, and the pongs answering fed pings.
/// Along the way: each call's result, `buffered_amount` after each write
/// and `wants_read`.
fn check_wire(
    (role, mark, ops, last_chunk): (Role, usize, Vec<Op>, usize),
) -> Result<(), TestCaseError> {
    let mut conn = with_mark(role, mark);
    let (mut wire, mut data, mut pings) = (Vec::new(), Vec::new(), Vec::new());
    // The kind of the fragmented message in progress (`true`: text).
    let mut fragmenting: Option<bool> = None;
    for op in &ops {
        let before = conn.buffered_amount();
        match op {
            Op::Send(text, payload, fin) => {
                let (kind, opcode) = kind_of(*text);
                let blocked = match fin {
                    None => fragmenting.is_some(),
                    Some(_) => fragmenting.is_some_and(|t| t != *text),
                };
                let expected = expected_send(before, mark, blocked);
                let sent = match (fin, text) {
                    (Some(fin), _) => conn.send_fragment(kind, payload, *fin),
                    (None, true) => conn.send_text(std::str::from_utf8(payload).unwrap()),
                    (None, false) => conn.send_binary(payload),
                };
                prop_assert_eq!(sent, expected);
                if expected.is_ok() {
                    let continued = fragmenting.is_some() && fin.is_some();
                    let opcode = if continued { OP_CONTINUATION } else { opcode };
                    data.push((opcode, fin.unwrap_or(true), payload.clone()));
                    if let Some(fin) = fin {
                        fragmenting = (!fin).then_some(*text);
                    }
                }
            }
            Op::InPlace(text, payload, steps, budget) => {
                let expected = expected_send(before, mark, fragmenting.is_some());
                let lent = (*text, &payload[..]);
                match write_in_place(&mut conn, lent, steps, *budget, &mut wire) {
                    Ok(remaining) => {
                        prop_assert_eq!(expected, Ok(()));
                        prop_assert_eq!(conn.buffered_amount(), remaining, "the rest is queued");
                        data.push((kind_of(*text).1, true, payload.clone()));
                    }
                    Err(error) => prop_assert_eq!(Err(error), expected),
                }
            }
            Op::Owned(text, payload) => {
                let expected = expected_send(before, mark, fragmenting.is_some());
                let sent = if *text {
                    let text = String::from_utf8(payload.clone()).expect("ASCII");
                    conn.send_text_owned(text)
                } else {
                    conn.send_binary_owned(payload.clone())
                };
                prop_assert_eq!(sent, expected);
                if expected.is_ok() {
                    data.push((kind_of(*text).1, true, payload.clone()));
                }
            }
            Op::PeerPing(payload) => {
                feed_ping(&mut conn, payload);
                pings.push(payload.clone());
            }
            Op::Write(n) => {
                write(&mut conn, &mut wire, *n);
            }
            Op::PollTransmit => {
                prop_assert_eq!(conn.poll_transmit(&mut wire), before);
                prop_assert_eq!(conn.buffered_amount(), 0);
            }
        }
        let buffered = conn.buffered_amount();
        prop_assert_eq!(conn.wants_read(), buffered <= mark);
        // A send is judged before it is queued (the largest message is
        // 5999 bytes and a 14-byte header); owed pongs are coalesced.
        let bound = mark.saturating_add(6013 + 2 * MAX_CONTROL_FRAME);
        prop_assert!(buffered <= bound, "{} after {:?}", buffered, op);
    }
    drain_in_chunks(&mut conn, &mut wire, last_chunk);
    let (mut sent_data, mut sent_pongs) = (Vec::new(), Vec::new());
    for frame in parse_frames(&wire) {
        prop_assert_eq!(frame.masked, role == Role::Client);
        prop_assert_eq!(frame.rsv, 0);
        match frame.opcode {
            OP_PONG => sent_pongs.push(frame.payload),
            OP_CONTINUATION | OP_TEXT | OP_BINARY => {
                sent_data.push((frame.opcode, frame.fin, frame.payload));
            }
            other => prop_assert!(false, "unexpected opcode {}", other),
        }
    }
    prop_assert!(sent_data == data, "data frames differ from what was sent");
    prop_assert_eq!(sent_pongs.is_empty(), pings.is_empty());
    // Coalescing only ever skips older pongs: never reorders them, never
    // drops the newest.
    let mut rest = pings.iter();
    let in_order = sent_pongs.iter().all(|p| rest.any(|q| q == p));
    prop_assert!(in_order, "pongs {:?} for pings {:?}", sent_pongs, pings);
    prop_assert_eq!(sent_pongs.last(), pings.last());
    Ok(())
}

/// A role, a high-water mark, the operations and the final write size.
fn case() -> impl Strategy<Value = (Role, usize, Vec<Op>, usize)> {
    let role = select(vec![Role::Server, Role::Client]);
    let mark = select(vec![0usize, 40, 200, 1000, 16 << 20]);
    (role, mark, prop::collection::vec(op(), 0..60), 1usize..64)
}

proptest! {
    // 256 cases unless PROPTEST_CASES says otherwise; no regression files
    // written into the tree.
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_ops_keep_the_wire_whole_and_pongs_in_order(case in case()) {
        check_wire(case)?;
    }
}
