//! The frame decoder of a [`Connection`], in one role, fed hostile bytes.
//!
//! The same stream runs five ways: whole and chunked at the message level,
//! chunked at the streaming level, in place and over a `BytesMut`
//! (`crate::bytes_level`), and chunked with every event dropped at once
//! while the heap is metered. Invariants:
//!
//! - the message level gives the same events, replies and state whole or
//!   chunked, and the streaming level gives the same once its pieces are
//!   joined, in place and over a `BytesMut` alike;
//! - `recv_in_place` never reports more bytes consumed than it was given,
//!   nor a payload outside them;
//! - after an error every receive call returns that same error (at the
//!   message level `poll_event` and `poll_event_from`, and the streaming
//!   level the connection becomes with `into_streaming`; at the streaming
//!   level `recv_in_place` and `recv_bytes`), and no event follows it;
//! - the bytes sent are exactly the replies the events call for (a pong per
//!   ping polled while auto pong is on, the close echo, or the failure's
//!   close code), as whole frames masked as the role requires, at most one
//!   close and nothing after it;
//! - the heap a connection holds grows with the bytes fed and its limits,
//!   never with lengths a header announces;
//! - the core-only `Decoder` gives the streaming level's events and error.
//!
//! The `deflate` target runs the same ways, all but `recv_bytes`, on a
//! connection with permessage-deflate (`Setup::deflate`); see
//! `crate::deflate`.

use crate::bytes_level::run_bytes;
use crate::frames::{Reply, replies};
use crate::heap;
use crate::input::{Setup, Xorshift, chunks, split_setup};
use wsproto::bytes::BytesMut;
use wsproto::{
    Connection, ConnectionError, Control, Decoder, Event, MessageKind, Role, State, StreamEvent,
    Streaming,
};

/// Runs every check on one fuzz input.
pub fn check(role: Role, data: &[u8]) {
    let (setup, stream) = split_setup(data);
    let pieces = chunks(stream, setup.max_chunk, setup.seed);
    let chunked = run_messages(role, &setup, &pieces);
    let whole = run_messages(role, &setup, &[stream]);
    assert_eq!(chunked, whole, "chunking changed the message-level run");
    let streamed = run_stream(role, &setup, &pieces);
    assert_eq!(streamed, chunked, "the streaming level disagrees");
    assert_eq!(
        run_bytes(role, &setup, &pieces),
        streamed,
        "recv_bytes disagrees with recv_in_place"
    );
    if setup.deflate.is_none() {
        // The core-only Decoder has no end of stream: the connection's
        // UnexpectedEof is its own.
        let mut expected = streamed.events;
        if setup.eof && expected.last() == Some(&Err(ConnectionError::UnexpectedEof)) {
            expected.pop();
        }
        assert_eq!(
            run_decoder(role, &setup, &pieces),
            expected,
            "the Decoder disagrees"
        );
    }
    check_memory(role, &setup, &pieces);
}

/// Adds a streamed data piece to the message being joined; the message
/// once its last piece is in.
pub(crate) fn join_piece(
    message: &mut Option<(MessageKind, Vec<u8>)>,
    kind: MessageKind,
    payload: &[u8],
    fin: bool,
) -> Option<Event> {
    let (kind0, bytes) = message.get_or_insert_with(|| (kind, Vec::new()));
    assert_eq!(*kind0, kind, "a message changed kind");
    bytes.extend_from_slice(payload);
    let (kind, bytes) = message.take_if(|_| fin)?;
    Some(match kind {
        MessageKind::Text => Event::Text(String::from_utf8(bytes).expect("validated text").into()),
        MessageKind::Binary => Event::Binary(bytes.into()),
    })
}

/// The events of a [`Decoder`] (the streaming level without replies),
/// messages joined from their pieces, then its error, if any.
fn run_decoder(role: Role, setup: &Setup, pieces: &[&[u8]]) -> Vec<Result<Event, ConnectionError>> {
    let mut decoder = Decoder::new(role, &setup.config);
    let mut events = Vec::new();
    let mut message: Option<(MessageKind, Vec<u8>)> = None;
    for chunk in pieces {
        let mut buf = chunk.to_vec();
        let mut at = 0;
        loop {
            let given = buf.len() - at;
            let (used, event) = match decoder.decode(&mut buf[at..]) {
                Ok(found) => found,
                Err(error) => {
                    let mut probe = [0x81u8, 0x00];
                    assert_eq!(decoder.decode(&mut probe).map(|(used, _)| used), Err(error));
                    events.push(Err(error.into()));
                    return events;
                }
            };
            assert!(used <= given, "consumed {used} of {given} bytes");
            match event {
                None => break,
                Some(StreamEvent::Data { kind, payload, fin }) => {
                    assert!(payload.len() <= used, "payload longer than the bytes used");
                    events.extend(join_piece(&mut message, kind, payload, fin).map(Ok));
                }
                Some(StreamEvent::Control(Control::Ping(p))) => {
                    events.push(Ok(Event::Control(Control::Ping(p))))
                }
                Some(StreamEvent::Control(Control::Pong(p))) => {
                    events.push(Ok(Event::Control(Control::Pong(p))))
                }
                Some(StreamEvent::Control(Control::Close(frame))) => {
                    assert!(decoder.is_closed());
                    events.push(Ok(Event::Control(Control::Close(frame))));
                }
                Some(other) => panic!("unknown stream event {other:?}"),
            }
            at += used;
        }
    }
    events
}

/// Everything a run produced.
#[derive(Debug, PartialEq, Eq)]
pub struct Run {
    /// Events in order, then the error that ended the run, if any.
    pub events: Vec<Result<Event, ConnectionError>>,
    pub sent: Vec<u8>,
    pub state: State,
}

/// A connection as `setup` says, whose client masks are deterministic, so
/// runs compare.
pub fn connection(role: Role, setup: &Setup) -> Connection {
    let (config, entropy) = (setup.config.clone(), Box::new(Xorshift::new(7)));
    match setup.deflate {
        Some(params) => Connection::with_deflate(role, config, params, entropy),
        None => Connection::with_entropy(role, config, entropy),
    }
}

/// [`connection`] at the streaming level.
pub fn streaming_connection(role: Role, setup: &Setup) -> Connection<Streaming> {
    connection(role, setup).into_streaming()
}

/// A frame to probe a failed connection with: after an error every receive
/// call must return it, whatever the input.
const PROBE: [u8; 2] = [0x81, 0x00];

/// Checks that a streaming connection that failed with `error` returns it
/// again from both of its receive calls, whatever they are given.
pub(crate) fn assert_sticky(conn: &mut Connection<Streaming>, error: ConnectionError) {
    let mut probe = PROBE;
    assert_eq!(
        conn.recv_in_place(&mut probe).map(|(used, _)| used),
        Err(error),
        "the error is not sticky"
    );
    let mut probe = BytesMut::from(&PROBE[..]);
    assert_eq!(
        conn.recv_bytes(&mut probe),
        Err(error),
        "recv_bytes forgot the error"
    );
}

/// What the connection must send in reply to `events` (in order).
fn expected_replies(events: &[Result<Event, ConnectionError>], auto_pong: bool) -> Vec<Reply> {
    let mut replies = Vec::new();
    let mut closed = false;
    for event in events {
        match event {
            Ok(Event::Control(Control::Ping(payload))) if auto_pong && !closed => {
                replies.push(Reply::Pong(payload.as_bytes().to_vec()));
            }
            Ok(Event::Control(Control::Close(frame))) if !closed => {
                replies.push(Reply::echo(frame.code()));
                closed = true;
            }
            Err(error) if !closed => {
                replies.extend(Reply::failure(*error));
                closed = true;
            }
            _ => {}
        }
    }
    replies
}

/// Checks the end of a run: replies, and the state they imply.
fn check_run(role: Role, setup: &Setup, run: &Run) {
    assert_eq!(
        replies(role, &run.sent),
        expected_replies(&run.events, setup.config.auto_pong),
        "replies do not match the events"
    );
    let closes = run
        .events
        .iter()
        .filter(|e| matches!(e, Ok(Event::Control(Control::Close(_)))))
        .count();
    assert!(closes <= 1, "more than one close event");
    if let Some(i) = run
        .events
        .iter()
        .position(|e| matches!(e, Ok(Event::Control(Control::Close(_)))))
    {
        assert_eq!(i + 1, run.events.len(), "an event after the peer's close");
    }
    let expected_state = match run.events.last() {
        Some(Ok(Event::Control(Control::Close(_)))) | Some(Err(_)) => State::Closed,
        _ if setup.eof => State::Closed,
        _ => State::Open,
    };
    assert_eq!(
        run.state,
        expected_state,
        "state after {:?}",
        run.events.last()
    );
}

/// Message level: `recv` each chunk, poll every event, transmit.
pub fn run_messages(role: Role, setup: &Setup, pieces: &[&[u8]]) -> Run {
    let mut conn = connection(role, setup);
    let mut events = Vec::new();
    let mut sent = Vec::new();
    let mut failed = None;
    let mut feed = |conn: &mut Connection, events: &mut Vec<_>| loop {
        match conn.poll_event() {
            Ok(Some(event)) => {
                assert!(failed.is_none(), "an event after the error");
                events.push(Ok(event));
            }
            Ok(None) => {
                assert!(failed.is_none(), "the error went away");
                break;
            }
            Err(error) => {
                if let Some(first) = failed {
                    assert_eq!(error, first, "the error changed");
                } else {
                    failed = Some(error);
                    events.push(Err(error));
                }
                assert_eq!(conn.poll_event(), Err(error), "the error is not sticky");
                let mut probe = BytesMut::from(&PROBE[..]);
                assert_eq!(
                    conn.poll_event_from(&mut probe),
                    Err(error),
                    "poll_event_from forgot the error"
                );
                break;
            }
        }
    };
    for chunk in pieces {
        conn.recv(chunk);
        feed(&mut conn, &mut events);
        conn.poll_transmit(&mut sent);
    }
    if setup.eof {
        conn.recv_eof();
        feed(&mut conn, &mut events);
        conn.poll_transmit(&mut sent);
    }
    let run = Run {
        events,
        sent,
        state: conn.state(),
    };
    // The level is part of the type now: the streaming level this
    // connection becomes must remember the error too.
    if let Some(error) = failed {
        let mut conn = conn.into_streaming();
        let mut probe = PROBE;
        assert_eq!(
            conn.recv_in_place(&mut probe).map(|(used, _)| used),
            Err(error),
            "the streaming level forgot the error"
        );
    }
    check_run(role, setup, &run);
    run
}

/// Streaming level: `recv_in_place` on a copy of each chunk; the data
/// pieces are joined into message events to compare with the message level.
pub fn run_stream(role: Role, setup: &Setup, pieces: &[&[u8]]) -> Run {
    let mut conn = streaming_connection(role, setup);
    let mut events = Vec::new();
    let mut sent = Vec::new();
    let mut message: Option<(MessageKind, Vec<u8>)> = None;
    let mut failed = None;
    'chunks: for chunk in pieces {
        let mut buf = chunk.to_vec();
        let mut at = 0;
        loop {
            let given = buf.len() - at;
            let (used, event) = match conn.recv_in_place(&mut buf[at..]) {
                Ok(found) => found,
                Err(error) => {
                    // (The message level's error is compared by `check`,
                    // and `run_messages` probes its streaming side.)
                    assert_sticky(&mut conn, error);
                    failed = Some(error);
                    events.push(Err(error));
                    break 'chunks;
                }
            };
            assert!(used <= given, "consumed {used} of {given} bytes");
            match event {
                None => {
                    assert_eq!(used, given, "stopped early without an event");
                    break;
                }
                Some(StreamEvent::Data { kind, payload, fin }) => {
                    // Inflated payload comes from the connection's buffer,
                    // maybe with nothing consumed (output left over from
                    // the last piece), but never empty then: each such
                    // event makes progress.
                    if setup.deflate.is_none() || payload.len() <= used {
                        assert!(payload.len() <= used, "payload longer than the bytes used");
                    } else {
                        assert!(
                            payload.len() <= INFLATE_OUTPUT,
                            "{} inflated bytes at once",
                            payload.len()
                        );
                    }
                    assert!(
                        used > 0 || !payload.is_empty() || fin,
                        "an empty event that consumed nothing"
                    );
                    events.extend(join_piece(&mut message, kind, payload, fin).map(Ok));
                }
                Some(StreamEvent::Control(Control::Ping(p))) => {
                    events.push(Ok(Event::Control(Control::Ping(p))))
                }
                Some(StreamEvent::Control(Control::Pong(p))) => {
                    events.push(Ok(Event::Control(Control::Pong(p))))
                }
                Some(StreamEvent::Control(Control::Close(frame))) => {
                    events.push(Ok(Event::Control(Control::Close(frame))))
                }
                Some(other) => panic!("unknown stream event {other:?}"),
            }
            at += used;
        }
        conn.poll_transmit(&mut sent);
    }
    if setup.eof && failed.is_none() {
        conn.recv_eof();
        let mut probe = [0u8; 0];
        if let Err(error) = conn.recv_in_place(&mut probe) {
            events.push(Err(error));
        }
    }
    conn.poll_transmit(&mut sent);
    Run {
        events,
        sent,
        state: conn.state(),
    }
}

/// Slack for fixed-size state and the allocator's rounding.
const SLACK: usize = 4096;
/// Heap per input byte the chunk's events and copies may take: at most one
/// event per two bytes, each under 160 bytes, with a queue's doubling (the
/// allowance made when the message level queued its events; it decodes one
/// per poll now, and the allowance is kept as it was).
const PER_INPUT_BYTE: usize = 256;
/// Room a message's buffer may have beyond twice its length (an inflated
/// message's first reservation).
const MESSAGE_ROOM: usize = 4096;
/// The most room the message level reserves from a frame header, ahead of
/// the bytes (`RESERVED_AHEAD` in `src/connection/messages.rs`).
const RESERVED_AHEAD: usize = 1 << 20;
/// What zlib-rs allocates for one inflater: 47,552 bytes with zlib-rs
/// 0.6.8, for every window size (it always allocates a 32 KiB window), plus
/// slack.
pub const INFLATE_STATE: usize = 56 << 10;
/// Compressed bytes an inflater copies and holds: a piece of at most
/// 16 KiB, in a buffer that may have doubled once.
pub const INFLATE_INPUT: usize = 32 << 10;
/// The streaming level's buffer for inflated payload (16 KiB).
pub const INFLATE_OUTPUT: usize = 16 << 10;
/// DEFLATE's best ratio: 258 bytes from a length/distance pair coded in
/// as little as two bits, so about 1032 bytes out per byte in.
pub const EXPANSION: usize = 1032;

/// Feeds the chunks, polling every event at once, and meters the heap.
///
/// - While receiving (the chunk fed, then every event polled), the peak
///   stays within three times the partial message (a growing buffer and
///   its copy), plus the buffers of the messages the chunk completed, plus
///   the chunk's events. What a message holds is what dropping its event
///   frees (a `Bytes` has no capacity to ask): at most twice its length
///   plus `MESSAGE_ROOM` (an inflated one may instead reach one byte past
///   the limit, once that is within two doublings); or, for a message that
///   arrived in one frame and shares the buffer it was read into, which its
///   event keeps alive until dropped, at most that read buffer: twice the
///   partial message and the largest chunk, plus `MESSAGE_ROOM`.
/// - After the events are polled, what stays is the partial message (at
///   most twice its bound), the bytes held undecoded and slack.
///
/// "The partial message" is bounded by `max_message_len` (plus one byte, by
/// which an inflated message proves too long), and by the bytes actually
/// fed: as they are without deflate, `EXPANSION` times that with it (a
/// deflate bomb costs no more than the limit). With deflate the inflater's
/// state and its copy of the compressed input are allowed on top, a fixed
/// amount. On top of all, the room the message level reserves from a frame
/// header ahead of the bytes (`RESERVED_AHEAD`): at most the frame's rest
/// and 1 MiB, twice when a buffer grows for the next message too, and
/// doubled by the buffer's own growth: address space whose pages are
/// touched only as bytes arrive, but counted here as allocated.
pub fn check_memory(role: Role, setup: &Setup, pieces: &[&[u8]]) {
    let mut conn = connection(role, setup);
    let limit = usize::try_from(setup.config.max_message_len).unwrap_or(usize::MAX);
    let ahead = 4 * usize::try_from(setup.config.max_frame_len)
        .unwrap_or(usize::MAX)
        .min(RESERVED_AHEAD);
    let fixed = match setup.deflate {
        Some(_) => SLACK + INFLATE_STATE + INFLATE_INPUT + ahead,
        None => SLACK + ahead,
    };
    let partial = |fed: usize| match setup.deflate {
        Some(_) => limit
            .saturating_add(1)
            .min(EXPANSION.saturating_mul(fed) + MESSAGE_ROOM),
        None => fed.min(limit),
    };
    let baseline = heap::live();
    let mut fed = 0usize;
    let mut largest_chunk = 0usize;
    for chunk in pieces {
        fed += chunk.len();
        largest_chunk = largest_chunk.max(chunk.len());
        let before = heap::reset_peak();
        conn.recv(chunk);
        let mut messages = 0usize;
        while let Ok(Some(event)) = conn.poll_event() {
            let len = match &event {
                Event::Text(text) => text.len(),
                Event::Binary(data) => data.len(),
                _ => 0,
            };
            let live = heap::live();
            drop(event);
            let held = live.saturating_sub(heap::live());
            // Doubling, or (inflating) straight to one byte past the limit
            // once that is within two doublings, or the read buffer.
            let doubled = held <= 2 * len + MESSAGE_ROOM;
            let to_limit = setup.deflate.is_some()
                && held <= limit.saturating_add(1)
                && held <= 5 * len + 4 * MESSAGE_ROOM;
            let read_buffer = held <= 2 * (partial(fed) + largest_chunk) + MESSAGE_ROOM + ahead;
            assert!(
                doubled || to_limit || read_buffer,
                "a message of {len} bytes holds a {held}-byte buffer"
            );
            messages += held;
        }
        let grown = heap::peak().saturating_sub(before);
        assert!(
            grown <= 3 * partial(fed) + messages + PER_INPUT_BYTE * chunk.len() + fixed,
            "receiving {} bytes took {grown} heap bytes (fed {fed}, limit {limit}, \
             {messages} bytes of messages)",
            chunk.len()
        );
        let mut out = Vec::new();
        conn.poll_transmit(&mut out);
        drop(out);
        let held = heap::live().saturating_sub(baseline);
        assert!(
            held <= 2 * partial(fed) + PER_INPUT_BYTE * largest_chunk + fixed,
            "holding {held} heap bytes after {fed} bytes fed (limit {limit})"
        );
    }
}
