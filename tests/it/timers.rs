//! The connection's timers in simulated time: the keepalive (ping after
//! `keepalive_interval` of silence, fail after `keepalive_timeout` without
//! an answer) and the closing-handshake timeout. The clock is a fixed
//! `Instant` plus offsets handed to `handle_timeout`; nothing sleeps.
//!
//! Every call goes through [`tick`], which also checks that
//! `poll_timeout` agrees with what `handle_timeout` returned.

#![cfg(feature = "std")]

use crate::common;

use common::*;
use std::time::{Duration, Instant};
use wsproto::{
    CloseCode, Config, Connection, ConnectionError, Initiator, MessageKind, ProtocolError,
    ReceiveLevel, Role, SendError, State, StreamEvent,
};

const SECOND: Duration = Duration::from_secs(1);
const NANO: Duration = Duration::from_nanos(1);
const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// `handle_timeout(now)`, checking that `poll_timeout` then reports the
/// same deadline.
fn tick<L: ReceiveLevel>(conn: &mut Connection<L>, now: Instant) -> Option<Instant> {
    let next = conn.handle_timeout(now);
    assert_eq!(
        conn.poll_timeout(),
        next,
        "poll_timeout disagrees at {now:?}"
    );
    next
}

/// A config with the keepalive on and the given close timeout.
fn keepalive(interval: Duration, timeout: Duration) -> Config {
    let mut config = Config::default();
    config.keepalive_interval = Some(interval);
    config.keepalive_timeout = timeout;
    config
}

fn close_timeout(timeout: Option<Duration>) -> Config {
    let mut config = Config::default();
    config.close_timeout = timeout;
    config
}

/// Bytes the peer of `role` sends: masked toward a server.
fn from_peer(role: Role, opcode: u8, payload: &[u8]) -> Vec<u8> {
    match role {
        Role::Server => client_frame(true, opcode, payload),
        Role::Client => server_frame(true, opcode, payload),
    }
}

fn drain<L: ReceiveLevel>(conn: &mut Connection<L>) -> Vec<u8> {
    let mut out = Vec::new();
    conn.poll_transmit(&mut out);
    out
}

/// Every effect a timeout has: closed, nothing left to write, the error
/// sticky at both receive levels (the message level's, then the same
/// connection turned to the streaming level), every send refused, no timer.
fn assert_timed_out(mut conn: Connection, error: ConnectionError, now: Instant) {
    assert_eq!(error.close_code(), CloseCode::ABNORMAL_CLOSURE);
    assert_eq!(conn.state(), State::Closed);
    assert_eq!(conn.buffered_amount(), 0, "pending output is dropped");
    assert!(conn.pending_transmit().is_empty());
    assert!(drain(&mut conn).is_empty(), "a timeout sends nothing");
    assert_eq!(conn.poll_event(), Err(error));
    assert_eq!(conn.poll_event(), Err(error), "the error is sticky");
    conn.recv(&from_peer(conn.role(), OP_PING, b"late"));
    assert_eq!(conn.poll_event(), Err(error), "input after it is ignored");
    let conn = &mut conn.into_streaming();
    let mut more = from_peer(conn.role(), OP_TEXT, b"late");
    assert_eq!(conn.recv_in_place(&mut more).map(|(n, _)| n), Err(error));
    assert_eq!(conn.send_text("late"), Err(SendError::Closed));
    assert_eq!(conn.send_binary(b"late"), Err(SendError::Closed));
    assert_eq!(conn.send_ping(b"late"), Err(SendError::Closed));
    assert_eq!(conn.send_pong(b"late"), Err(SendError::Closed));
    assert_eq!(
        conn.send_fragment(MessageKind::Binary, b"late", true),
        Err(SendError::Closed)
    );
    assert_eq!(
        conn.close(now, CloseCode::NORMAL, ""),
        Err(SendError::Closed)
    );
    assert_eq!(conn.buffered_amount(), 0);
    assert_eq!(tick(conn, now), None, "no timer runs once closed");
    assert_eq!(tick(conn, now + DAY), None);
}

// ----- keepalive -----

#[test]
fn keepalive_is_off_by_default() {
    let t0 = Instant::now();
    for role in [Role::Server, Role::Client] {
        let mut conn = connection(role, Config::default());
        assert_eq!(tick(&mut conn, t0), None);
        assert_eq!(tick(&mut conn, t0 + 365 * DAY), None);
        assert_eq!(conn.buffered_amount(), 0, "{role:?} sent a ping");
        assert_eq!(conn.state(), State::Open);
    }
}

#[test]
fn a_server_pings_unmasked_after_the_interval_of_silence() {
    let t0 = Instant::now();
    let mut server = connection(Role::Server, keepalive(10 * SECOND, 5 * SECOND));
    assert_eq!(tick(&mut server, t0), Some(t0 + 10 * SECOND));
    // Not a nanosecond early.
    assert_eq!(
        tick(&mut server, t0 + 10 * SECOND - NANO),
        Some(t0 + 10 * SECOND)
    );
    assert_eq!(server.buffered_amount(), 0);
    // Due: the ping is queued and the answer deadline armed.
    assert_eq!(tick(&mut server, t0 + 10 * SECOND), Some(t0 + 15 * SECOND));
    assert_eq!(server.pending_transmit(), [0x89, 0x00]);
    assert_eq!(server.state(), State::Open);
    // One outstanding ping: a later tick does not queue another.
    assert_eq!(tick(&mut server, t0 + 12 * SECOND), Some(t0 + 15 * SECOND));
    assert_eq!(drain(&mut server), [0x89, 0x00]);
}

#[test]
fn a_client_pings_masked_with_its_next_key() {
    let t0 = Instant::now();
    let entropy = ScriptedEntropy::new(&[1, 2, 3, 4]);
    let config = keepalive(10 * SECOND, 5 * SECOND);
    let mut client = Connection::with_entropy(Role::Client, config, Box::new(entropy));
    assert_eq!(tick(&mut client, t0), Some(t0 + 10 * SECOND));
    assert_eq!(tick(&mut client, t0 + 10 * SECOND), Some(t0 + 15 * SECOND));
    assert_eq!(drain(&mut client), [0x89, 0x80, 1, 2, 3, 4]);
}

#[test]
fn a_pong_before_the_answer_deadline_keeps_the_connection_alive() {
    let t0 = Instant::now();
    for role in [Role::Server, Role::Client] {
        let mut conn = connection(role, keepalive(10 * SECOND, 5 * SECOND));
        tick(&mut conn, t0);
        assert_eq!(tick(&mut conn, t0 + 10 * SECOND), Some(t0 + 15 * SECOND));
        drain(&mut conn);
        // The (empty) pong arrives at 12 s: the silence starts again then.
        conn.recv(&from_peer(role, OP_PONG, b""));
        assert_eq!(tick(&mut conn, t0 + 12 * SECOND), Some(t0 + 22 * SECOND));
        // The old answer deadline passes harmlessly.
        assert_eq!(tick(&mut conn, t0 + 15 * SECOND), Some(t0 + 22 * SECOND));
        assert_eq!(conn.state(), State::Open);
        assert_eq!(conn.poll_event(), pong(b"").map(Some));
        // The next round pings again, 10 s after the pong was seen.
        assert_eq!(tick(&mut conn, t0 + 22 * SECOND), Some(t0 + 27 * SECOND));
        let frames = parse_frames(&drain(&mut conn));
        assert_eq!(frames.len(), 1, "{role:?}");
        assert_eq!(
            (frames[0].opcode, frames[0].masked),
            (OP_PING, role == Role::Client)
        );
    }
}

#[test]
fn a_data_frame_before_the_answer_deadline_keeps_the_connection_alive() {
    let t0 = Instant::now();
    let mut server = connection(Role::Server, keepalive(10 * SECOND, 5 * SECOND));
    tick(&mut server, t0);
    tick(&mut server, t0 + 10 * SECOND);
    drain(&mut server);
    // No pong, but a message: the peer is alive.
    server.recv(&client_frame(true, OP_BINARY, b"busy"));
    assert_eq!(tick(&mut server, t0 + 14 * SECOND), Some(t0 + 24 * SECOND));
    assert_eq!(tick(&mut server, t0 + 20 * SECOND), Some(t0 + 24 * SECOND));
    assert_eq!(server.state(), State::Open);
    assert_eq!(server.poll_event(), binary(b"busy").map(Some));
    assert_eq!(server.buffered_amount(), 0, "no second ping yet");
}

#[test]
fn input_before_the_idle_deadline_postpones_the_ping() {
    let t0 = Instant::now();
    let mut server = connection(Role::Server, keepalive(10 * SECOND, 5 * SECOND));
    tick(&mut server, t0);
    server.recv(&client_frame(true, OP_TEXT, b"hi"));
    assert_eq!(tick(&mut server, t0 + 4 * SECOND), Some(t0 + 14 * SECOND));
    assert_eq!(tick(&mut server, t0 + 10 * SECOND), Some(t0 + 14 * SECOND));
    assert_eq!(server.buffered_amount(), 0, "pinged despite the input");
}

#[test]
fn an_unanswered_keepalive_ping_fails_the_connection() {
    let t0 = Instant::now();
    for role in [Role::Server, Role::Client] {
        let mut conn = connection(role, keepalive(10 * SECOND, 5 * SECOND));
        tick(&mut conn, t0);
        tick(&mut conn, t0 + 10 * SECOND);
        // The ping and a message stay unwritten: the transport is stuck.
        conn.send_text("unwritten").expect("open");
        assert!(conn.buffered_amount() > 0);
        assert_eq!(
            tick(&mut conn, t0 + 15 * SECOND - NANO),
            Some(t0 + 15 * SECOND)
        );
        assert_eq!(conn.state(), State::Open);
        assert_eq!(tick(&mut conn, t0 + 15 * SECOND), None);
        assert_timed_out(conn, ConnectionError::KeepaliveTimeout, t0 + 16 * SECOND);
    }
}

#[test]
fn events_received_before_a_keepalive_timeout_come_before_the_error() {
    let t0 = Instant::now();
    let mut server = connection(Role::Server, keepalive(10 * SECOND, 5 * SECOND));
    tick(&mut server, t0);
    let input = concat(&[
        client_frame(true, OP_TEXT, b"first"),
        client_frame(true, OP_PING, b"p"),
    ]);
    server.recv(&input);
    // Received at 1 s, never polled; silence after that.
    assert_eq!(tick(&mut server, t0 + SECOND), Some(t0 + 11 * SECOND));
    tick(&mut server, t0 + 11 * SECOND);
    assert_eq!(tick(&mut server, t0 + 16 * SECOND), None);
    assert_eq!(server.poll_event(), text("first").map(Some));
    assert_eq!(server.poll_event(), ping(b"p").map(Some));
    assert_eq!(server.buffered_amount(), 0, "no pong after the timeout");
    assert_eq!(server.poll_event(), Err(ConnectionError::KeepaliveTimeout));
    assert_eq!(server.state(), State::Closed);
}

#[test]
fn a_close_frame_delivered_after_a_keepalive_timeout_is_not_echoed() {
    let t0 = Instant::now();
    let mut server = connection(Role::Server, keepalive(10 * SECOND, 5 * SECOND));
    tick(&mut server, t0);
    server.recv(&client_frame(true, OP_CLOSE, &close_payload(1000, b"")));
    tick(&mut server, t0 + SECOND);
    tick(&mut server, t0 + 11 * SECOND);
    assert_eq!(tick(&mut server, t0 + 16 * SECOND), None);
    assert_eq!(server.state(), State::Closed);
    // The close read before the timeout is still reported ...
    assert_eq!(server.poll_event(), close(1000, "").map(Some));
    // ... but a timed-out connection sends nothing and stays closed.
    assert_eq!(server.buffered_amount(), 0);
    assert_eq!(server.state(), State::Closed);
    assert_eq!(server.poll_event(), Err(ConnectionError::KeepaliveTimeout));
}

#[test]
fn the_streaming_level_reports_the_keepalive_timeout() {
    let t0 = Instant::now();
    let mut server = stream_connection(Role::Server, keepalive(10 * SECOND, 5 * SECOND));
    tick(&mut server, t0);
    // Input at the streaming level counts as activity too.
    let mut input = client_frame(true, OP_TEXT, b"streamed");
    let len = input.len();
    let (used, event) = server.recv_in_place(&mut input).expect("valid");
    assert_eq!(used, len);
    assert!(matches!(
        event,
        Some(StreamEvent::Data {
            payload: b"streamed",
            ..
        })
    ));
    assert_eq!(tick(&mut server, t0 + 3 * SECOND), Some(t0 + 13 * SECOND));
    tick(&mut server, t0 + 13 * SECOND);
    assert_eq!(tick(&mut server, t0 + 18 * SECOND), None);
    let mut more = client_frame(true, OP_TEXT, b"x");
    assert_eq!(
        server.recv_in_place(&mut more).map(|(n, _)| n),
        Err(ConnectionError::KeepaliveTimeout)
    );
    assert_eq!(server.state(), State::Closed);
}

#[test]
fn a_long_frame_streamed_to_a_client_keeps_the_connection_alive() {
    // RFC 6455 peers cannot answer a ping inside a frame; Config documents
    // that any byte received meets the keepalive.
    let t0 = Instant::now();
    let mut client = stream_connection(Role::Client, keepalive(10 * SECOND, 5 * SECOND));
    tick(&mut client, t0);
    let frame = server_frame(true, OP_BINARY, &[7u8; 10_000]);
    // Header and a little payload at 0 s, then 100 bytes every 3 s.
    let mut received = 0;
    for (i, chunk) in frame.chunks(100).take(20).enumerate() {
        let mut chunk = chunk.to_vec();
        let len = chunk.len();
        let (used, event) = client.recv_in_place(&mut chunk).expect("valid");
        assert_eq!(used, len);
        if let Some(StreamEvent::Data { payload, .. }) = event {
            received += payload.len();
        }
        let now = t0 + 3 * SECOND * i as u32;
        assert_eq!(tick(&mut client, now), Some(now + 10 * SECOND), "at {i}");
        assert_eq!(client.state(), State::Open);
    }
    assert_eq!(received, 20 * 100 - 4);
    assert_eq!(client.buffered_amount(), 0, "pinged a busy peer");
}

#[test]
fn no_keepalive_ping_once_closing() {
    let t0 = Instant::now();
    let mut config = keepalive(SECOND, SECOND);
    config.close_timeout = None;
    let mut server = connection(Role::Server, config);
    assert_eq!(tick(&mut server, t0), Some(t0 + SECOND));
    server.close(t0, CloseCode::NORMAL, "").expect("open");
    drain(&mut server);
    // Closing without a close timeout: no timer at all.
    assert_eq!(tick(&mut server, t0 + 5 * SECOND), None);
    assert_eq!(server.buffered_amount(), 0, "pinged after our close");
    assert_eq!(server.state(), State::Closing(Initiator::Local));
}

#[test]
fn the_close_timer_replaces_the_keepalive_once_closing() {
    let t0 = Instant::now();
    let mut server = connection(Role::Server, keepalive(SECOND, SECOND));
    tick(&mut server, t0);
    server.close(t0, CloseCode::NORMAL, "").expect("open");
    drain(&mut server);
    assert_eq!(tick(&mut server, t0 + SECOND), Some(t0 + 10 * SECOND));
    assert_eq!(tick(&mut server, t0 + 5 * SECOND), Some(t0 + 10 * SECOND));
    assert_eq!(server.buffered_amount(), 0);
}

// ----- closing handshake -----

/// Issue 19: after `close()`, `poll_timeout()` returned `None` until the
/// next `handle_timeout`, so a driver that slept until `poll_timeout()`
/// after closing never woke. `close` takes the time now and starts the
/// timer itself, with or without an earlier `handle_timeout`.
#[test]
fn poll_timeout_is_right_at_once_after_our_close() {
    let t0 = Instant::now();
    for role in [Role::Server, Role::Client] {
        for ticked_before in [false, true] {
            let mut conn = connection(role, Config::default());
            if ticked_before {
                tick(&mut conn, t0);
            }
            assert_eq!(conn.poll_timeout(), None);
            conn.close(t0 + SECOND, CloseCode::NORMAL, "bye")
                .expect("open");
            assert_eq!(conn.poll_timeout(), Some(t0 + 11 * SECOND), "{role:?}");
            // And on the no_std clock.
            let mut conn = connection(role, Config::default()).into_streaming();
            conn.close_at(7 * SECOND, CloseCode::NORMAL, "bye")
                .expect("open");
            assert_eq!(conn.poll_timeout_at(), Some(17 * SECOND));
        }
    }
}

#[test]
fn the_close_timeout_counts_from_our_close() {
    let t0 = Instant::now();
    for role in [Role::Server, Role::Client] {
        let mut conn = connection(role, Config::default());
        assert_eq!(tick(&mut conn, t0), None, "nothing to time while open");
        // Closed at 3 s: the 10 s count from then, whenever the driver
        // next wakes.
        conn.close(t0 + 3 * SECOND, CloseCode::NORMAL, "bye")
            .expect("open");
        assert_eq!(tick(&mut conn, t0 + 4 * SECOND), Some(t0 + 13 * SECOND));
        assert_eq!(tick(&mut conn, t0 + 5 * SECOND), Some(t0 + 13 * SECOND));
        assert_eq!(
            tick(&mut conn, t0 + 13 * SECOND - NANO),
            Some(t0 + 13 * SECOND)
        );
        assert_eq!(conn.state(), State::Closing(Initiator::Local));
        // Our close is still unwritten at the deadline: dropped.
        assert!(conn.buffered_amount() > 0);
        assert_eq!(tick(&mut conn, t0 + 13 * SECOND), None);
        assert_timed_out(conn, ConnectionError::CloseTimeout, t0 + 14 * SECOND);
    }
}

#[test]
fn a_peer_that_never_answers_our_written_close_times_out() {
    let t0 = Instant::now();
    let mut client = connection(Role::Client, close_timeout(Some(2 * SECOND)));
    client.close(t0, CloseCode::GOING_AWAY, "").expect("open");
    assert_eq!(sent_close_code(&drain(&mut client)), Some(1001));
    assert_eq!(tick(&mut client, t0), Some(t0 + 2 * SECOND));
    // Messages still arrive while we wait; they are delivered first.
    client.recv(&server_frame(true, OP_TEXT, b"still here"));
    assert_eq!(tick(&mut client, t0 + 2 * SECOND), None);
    assert_eq!(client.state(), State::Closed);
    assert_eq!(client.poll_event(), text("still here").map(Some));
    assert_eq!(client.poll_event(), Err(ConnectionError::CloseTimeout));
    // The peer's close arriving late changes nothing.
    client.recv(&server_frame(true, OP_CLOSE, &close_payload(1001, b"")));
    assert_eq!(client.poll_event(), Err(ConnectionError::CloseTimeout));
}

#[test]
fn the_close_timeout_runs_while_our_echo_sits_unwritten() {
    let t0 = Instant::now();
    let mut server = connection(Role::Server, close_timeout(Some(4 * SECOND)));
    assert_eq!(tick(&mut server, t0), None);
    server.recv(&client_frame(true, OP_CLOSE, &close_payload(1000, b"done")));
    // Read but not delivered: still open, nothing to time.
    assert_eq!(tick(&mut server, t0 + SECOND), None);
    assert_eq!(server.poll_event(), close(1000, "done").map(Some));
    assert_eq!(server.state(), State::Closing(Initiator::Remote));
    assert_eq!(tick(&mut server, t0 + 2 * SECOND), Some(t0 + 6 * SECOND));
    // The transport never takes the echo.
    assert_eq!(server.buffered_amount(), 4);
    assert_eq!(tick(&mut server, t0 + 6 * SECOND), None);
    assert_timed_out(server, ConnectionError::CloseTimeout, t0 + 7 * SECOND);
}

#[test]
fn the_close_timeout_runs_after_a_protocol_error_queued_its_close() {
    let t0 = Instant::now();
    let mut server = connection(Role::Server, Config::default());
    // An unmasked frame from a client is a protocol error (1002).
    server.recv(&server_frame(true, OP_TEXT, b"unmasked"));
    assert_eq!(
        server.poll_event(),
        Err(ProtocolError::UnmaskedFrame.into())
    );
    assert_eq!(server.state(), State::Closing(Initiator::Local));
    assert_eq!(sent_close_code(server.pending_transmit()), Some(1002));
    assert_eq!(tick(&mut server, t0), Some(t0 + 10 * SECOND));
    assert_eq!(tick(&mut server, t0 + 10 * SECOND), None);
    assert_timed_out(server, ConnectionError::CloseTimeout, t0 + 11 * SECOND);
}

#[test]
fn a_closing_handshake_finished_in_time_never_times_out() {
    let t0 = Instant::now();
    for role in [Role::Server, Role::Client] {
        let mut conn = connection(role, Config::default());
        conn.close(t0, CloseCode::NORMAL, "").expect("open");
        assert_eq!(tick(&mut conn, t0), Some(t0 + 10 * SECOND));
        drain(&mut conn);
        conn.recv(&from_peer(role, OP_CLOSE, &close_payload(1000, b"")));
        assert_eq!(tick(&mut conn, t0 + 9 * SECOND), Some(t0 + 10 * SECOND));
        assert_eq!(conn.poll_event(), close(1000, "").map(Some));
        assert_eq!(conn.state(), State::Closed);
        assert_eq!(tick(&mut conn, t0 + 9 * SECOND), None);
        assert_eq!(tick(&mut conn, t0 + 10 * SECOND), None);
        assert_eq!(tick(&mut conn, t0 + DAY), None);
        assert_eq!(conn.poll_event(), Ok(None), "{role:?}: no error");
        assert_eq!(conn.buffered_amount(), 0);
    }
}

#[test]
fn an_echo_written_in_time_finishes_the_handshake() {
    let t0 = Instant::now();
    let mut server = connection(Role::Server, Config::default());
    server.recv(&client_frame(true, OP_CLOSE, &close_payload(1001, b"")));
    assert_eq!(server.poll_event(), close(1001, "").map(Some));
    assert_eq!(tick(&mut server, t0), Some(t0 + 10 * SECOND));
    assert_eq!(sent_close_code(&drain(&mut server)), Some(1001));
    assert_eq!(server.state(), State::Closed);
    assert_eq!(tick(&mut server, t0 + 10 * SECOND), None);
    assert_eq!(server.poll_event(), Ok(None));
}

#[test]
fn without_a_close_timeout_closing_waits_for_ever() {
    let t0 = Instant::now();
    let mut server = connection(Role::Server, close_timeout(None));
    server.close(t0, CloseCode::NORMAL, "").expect("open");
    assert_eq!(tick(&mut server, t0), None);
    assert_eq!(tick(&mut server, t0 + 365 * DAY), None);
    assert_eq!(server.state(), State::Closing(Initiator::Local));
    assert_eq!(server.poll_event(), Ok(None));
    assert!(server.buffered_amount() > 0, "our close is still owed");
}

#[test]
fn a_closed_connection_has_no_timer() {
    let t0 = Instant::now();
    let mut config = keepalive(SECOND, SECOND);
    config.close_timeout = Some(SECOND);
    let mut server = connection(Role::Server, config);
    assert_eq!(tick(&mut server, t0), Some(t0 + SECOND));
    server.recv_eof();
    assert_eq!(server.state(), State::Closed);
    assert_eq!(tick(&mut server, t0 + 5 * SECOND), None);
    assert_eq!(server.buffered_amount(), 0, "pinged a closed connection");
    assert_eq!(server.poll_event(), Err(ConnectionError::UnexpectedEof));
}

#[test]
fn huge_keepalive_durations_never_fire() {
    let t0 = Instant::now();
    for (interval, timeout) in [(Duration::MAX, SECOND), (SECOND, Duration::MAX)] {
        let mut server = connection(Role::Server, keepalive(interval, timeout));
        let first = tick(&mut server, t0);
        assert_eq!(first, t0.checked_add(interval));
        tick(&mut server, t0 + SECOND);
        // Past the end of `Instant`'s range is never.
        for later in [2 * SECOND, 365 * DAY, 100 * 365 * DAY] {
            assert_eq!(tick(&mut server, t0 + later), None, "{interval:?}");
            assert_eq!(server.state(), State::Open);
        }
        let pinged = server.buffered_amount() > 0;
        assert_eq!(pinged, interval == SECOND, "{interval:?}/{timeout:?}");
    }
}

#[test]
fn a_huge_close_timeout_never_fires() {
    let t0 = Instant::now();
    let mut server = connection(Role::Server, close_timeout(Some(Duration::MAX)));
    server.close(t0, CloseCode::NORMAL, "").expect("open");
    let deadline = tick(&mut server, t0);
    assert_eq!(deadline, None, "a deadline past the end of time");
    for later in [365 * DAY, 100 * 365 * DAY] {
        tick(&mut server, t0 + later);
        assert_eq!(server.state(), State::Closing(Initiator::Local));
    }
}

#[test]
fn a_huge_close_timeout_does_not_panic_and_lasts_over_a_month() {
    // What holds today whatever the cap: no panic, no early firing.
    let t0 = Instant::now();
    let mut server = connection(Role::Server, close_timeout(Some(Duration::MAX)));
    server.close(t0, CloseCode::NORMAL, "").expect("open");
    let deadline = tick(&mut server, t0);
    assert!(
        deadline.is_none_or(|at| at >= t0 + 49 * DAY),
        "{deadline:?}"
    );
    tick(&mut server, t0 + 31 * DAY);
    assert_eq!(server.state(), State::Closing(Initiator::Local));
}

#[test]
fn the_streaming_level_reports_the_close_timeout() {
    let t0 = Instant::now();
    let mut client = stream_connection(Role::Client, close_timeout(Some(SECOND)));
    client.close(t0, CloseCode::NORMAL, "").expect("open");
    drain(&mut client);
    tick(&mut client, t0);
    assert_eq!(tick(&mut client, t0 + SECOND), None);
    let mut input = server_frame(true, OP_BINARY, b"late");
    assert_eq!(
        client.recv_in_place(&mut input).map(|(n, _)| n),
        Err(ConnectionError::CloseTimeout)
    );
    assert_eq!(client.state(), State::Closed);
}

#[test]
fn a_driver_that_sleeps_until_each_returned_deadline_sees_the_whole_cycle() {
    // Follows the documented loop: call handle_timeout, sleep until the
    // instant it returns, repeat. The peer answers the first ping only.
    let t0 = Instant::now();
    let mut server = connection(Role::Server, keepalive(20 * SECOND, 10 * SECOND));
    let mut now = t0;
    let mut wakeups = vec![];
    let mut pings = 0;
    loop {
        let next = tick(&mut server, now);
        if drain(&mut server) == [0x89, 0x00] {
            pings += 1;
            if pings == 1 {
                server.recv(&client_frame(true, OP_PONG, b""));
            }
        }
        let Some(next) = next else { break };
        assert!(next > now, "a deadline not in the future");
        now = next;
        wakeups.push(now - t0);
    }
    assert_eq!(pings, 2);
    let expected: Vec<Duration> = [20, 30, 50, 60].iter().map(|&s| s * SECOND).collect();
    assert_eq!(wakeups, expected);
    assert_eq!(server.poll_event(), pong(b"").map(Some));
    assert_eq!(server.poll_event(), Err(ConnectionError::KeepaliveTimeout));
}

/// Regression (issue 19): a close timeout after a protocol error made the
/// message level decode again, so bytes read after the failure came out as
/// a message.
#[test]
fn nothing_is_decoded_after_a_failure_even_once_its_close_timed_out() {
    let t0 = Instant::now();
    let mut server = connection(Role::Server, Config::default());
    server.recv(&server_frame(true, OP_TEXT, b"unmasked"));
    assert_eq!(
        server.poll_event(),
        Err(ProtocolError::UnmaskedFrame.into())
    );
    assert_eq!(tick(&mut server, t0), Some(t0 + 10 * SECOND));
    assert_eq!(tick(&mut server, t0 + 10 * SECOND), None);
    let mut buf = bytes::BytesMut::from(&from_peer(Role::Server, OP_TEXT, b"late")[..]);
    assert_eq!(
        server.poll_event_from(&mut buf),
        Err(ConnectionError::CloseTimeout)
    );
    assert!(buf.is_empty(), "bytes after the failure are dropped");
}

/// Bytes a caller's buffer still holds from earlier calls are not news:
/// `poll_event_from` counted them as heard on every call, so a peer stalled
/// half-way through a frame was never pinged (found by the tokio driver's
/// tests).
#[test]
fn a_frame_stalled_in_the_callers_buffer_does_not_hold_off_the_keepalive() {
    let t0 = Instant::now();
    let mut server = connection(Role::Server, keepalive(10 * SECOND, 5 * SECOND));
    tick(&mut server, t0);
    let frame = from_peer(Role::Server, OP_BINARY, &[7; 1000]);
    let mut buf = bytes::BytesMut::from(&frame[..600]);
    assert_eq!(server.poll_event_from(&mut buf), Ok(None));
    // Heard at t0 + 1 s: the idle interval starts again from there.
    assert_eq!(tick(&mut server, t0 + SECOND), Some(t0 + 11 * SECOND));
    // The driver polls again with nothing new (a spurious wake, say).
    assert_eq!(server.poll_event_from(&mut buf), Ok(None));
    assert_eq!(tick(&mut server, t0 + 11 * SECOND), Some(t0 + 16 * SECOND));
    assert!(server.buffered_amount() > 0, "the keepalive ping is queued");
    assert_eq!(server.poll_event_from(&mut buf), Ok(None));
    assert_eq!(tick(&mut server, t0 + 16 * SECOND), None);
    assert_eq!(
        server.poll_event_from(&mut buf),
        Err(ConnectionError::KeepaliveTimeout)
    );
}
