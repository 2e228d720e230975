//! `Connection::set_receive_allowance` and `receive_held`: what a driver
//! sharing a memory budget between connections builds on. A message that
//! would hold more than allowed fails with 1013 before it holds it;
//! `max_message_len` keeps its own error; a raised allowance lets a
//! message go on; a whole message in the input is not held to it.

use crate::common;

use bytes::BytesMut;
use common::*;
use wsproto::{CloseCode, Config, ConnectionError, Event, ProtocolError, Role, State};

fn over(len: u64, allowance: u64) -> ConnectionError {
    ConnectionError::Protocol(ProtocolError::MessageOverAllowance { len, allowance })
}

#[test]
fn a_fragment_that_would_pass_the_allowance_fails_with_1013() {
    let mut server = connection(Role::Server, Config::default());
    server.set_receive_allowance(100);
    server.recv(&client_frame(false, OP_BINARY, &[1; 60]));
    assert_eq!(server.poll_event(), Ok(None));
    assert_eq!(server.receive_held(), 60);
    // The second fragment's header announces 120 in all: refused before
    // a byte of it is held.
    server.recv(&header(
        false,
        0,
        OP_CONTINUATION,
        60,
        Some(MASK),
        LenEncoding::Minimal,
    ));
    assert_eq!(server.poll_event(), Err(over(120, 100)));
    let mut sent = Vec::new();
    server.poll_transmit(&mut sent);
    assert_eq!(sent_close_code(&sent), Some(1013));
    assert_eq!(server.receive_held(), 0);
    assert_eq!(server.state(), State::Closed);
    assert_eq!(
        over(1, 0).wire_close_code(),
        Some(CloseCode::TRY_AGAIN_LATER)
    );
}

#[test]
fn a_single_frame_is_held_to_what_its_header_announces() {
    // Arriving in the caller's buffer, in place: the header counts.
    let mut server = connection(Role::Server, Config::default());
    let frame = client_frame(true, OP_TEXT, &[b'a'; 3000]);
    let mut buf = BytesMut::from(&frame[..100]);
    assert_eq!(server.poll_event_from(&mut buf), Ok(None));
    assert_eq!(server.receive_held(), 3000);

    let mut server = connection(Role::Server, Config::default());
    server.set_receive_allowance(2999);
    let mut buf = BytesMut::from(&frame[..100]);
    assert_eq!(server.poll_event_from(&mut buf), Err(over(3000, 2999)));
}

#[test]
fn a_whole_message_in_the_input_is_not_held_to_the_allowance() {
    let mut server = connection(Role::Server, Config::default());
    server.set_receive_allowance(0);
    let mut buf = BytesMut::from(&client_frame(true, OP_TEXT, b"hello")[..]);
    assert_eq!(
        server.poll_event_from(&mut buf),
        Ok(Some(Event::Text("hello".into())))
    );
    assert_eq!(server.receive_held(), 0);
}

#[test]
fn max_message_len_keeps_its_own_error_and_code() {
    let mut server = connection(Role::Server, limits(1 << 20, 1000));
    server.set_receive_allowance(10);
    server.recv(&header(
        true,
        0,
        OP_BINARY,
        2000,
        Some(MASK),
        LenEncoding::Minimal,
    ));
    assert_eq!(
        server.poll_event(),
        Err(ConnectionError::Protocol(ProtocolError::MessageTooLong {
            len: 2000,
            max: 1000
        }))
    );
}

#[test]
fn a_raised_allowance_lets_the_message_go_on() {
    let mut server = connection(Role::Server, Config::default());
    server.set_receive_allowance(60);
    server.recv(&client_frame(false, OP_BINARY, &[1; 60]));
    assert_eq!(server.poll_event(), Ok(None));
    server.set_receive_allowance(120);
    server.recv(&client_frame(true, OP_CONTINUATION, &[2; 60]));
    let mut expected = vec![1; 60];
    expected.extend([2; 60]);
    assert_eq!(
        server.poll_event(),
        Ok(Some(Event::Binary(expected.into())))
    );
    assert_eq!(server.receive_held(), 0);
}

#[cfg(feature = "deflate")]
mod compressed {
    use super::*;
    use common::deflate_bits::bomb;
    use wsproto::{Connection, DeflateParams};

    fn deflating_server() -> Connection {
        let params = DeflateParams::new(15, 15, false, false).expect("valid window bits");
        Connection::with_deflate(
            Role::Server,
            Config::default(),
            params,
            Box::new(ScriptedEntropy::xorshift()),
        )
    }

    fn compressed_frame(payload: &[u8]) -> Vec<u8> {
        masked_frame(true, 0b100, OP_BINARY, payload, MASK, LenEncoding::Minimal)
    }

    #[test]
    fn a_bomb_stops_one_byte_past_the_allowance_with_1013() {
        // Under 1 KB on the wire, 1 MB inflated; allowed 100 KiB.
        let payload = bomb(4000);
        let mut server = deflating_server();
        server.set_receive_allowance(100 << 10);
        server.recv(&compressed_frame(&payload));
        assert_eq!(server.poll_event(), Err(over((100 << 10) + 1, 100 << 10)));
        let mut sent = Vec::new();
        server.poll_transmit(&mut sent);
        assert_eq!(sent_close_code(&sent), Some(1013));
        assert_eq!(server.receive_held(), 0);
    }

    #[test]
    fn an_inflated_message_is_held_to_the_allowance_as_it_grows() {
        // The same bomb in two frames: after the first, what is held is
        // the inflated bytes so far, within the allowance.
        let payload = bomb(4000);
        let (first, second) = payload.split_at(payload.len() / 2);
        let mut server = deflating_server();
        server.set_receive_allowance(2 << 20);
        server.recv(&masked_frame(
            false,
            0b100,
            OP_BINARY,
            first,
            MASK,
            LenEncoding::Minimal,
        ));
        assert_eq!(server.poll_event(), Ok(None));
        let held = server.receive_held();
        assert!(held > 0 && held <= 2 << 20, "{held}");
        server.recv(&client_frame(true, OP_CONTINUATION, second));
        match server.poll_event() {
            Ok(Some(Event::Binary(data))) => assert_eq!(data.len(), 1 + 258 * 4000),
            other => panic!("expected the whole message, got {other:?}"),
        }
        assert_eq!(server.receive_held(), 0);
    }
}
