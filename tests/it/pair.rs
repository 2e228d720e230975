//! An in-memory client and server exchanging messages of every length class,
//! whole and fragmented, with pings interleaved, through a full close
//! handshake. Bytes cross in uneven chunks to exercise reassembly.

#![cfg(feature = "std")]

use wsproto::{
    CloseCode, Config, Connection, ConnectionError, Control, Event, Initiator, MessageKind, Role,
    SendError, State, StreamEvent,
};

const SIZES: [usize; 7] = [0, 1, 125, 126, 65535, 65536, 1 << 20];

fn payload(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// ASCII-and-multibyte text of exactly `len` bytes.
fn text(len: usize) -> String {
    let mut s = String::with_capacity(len);
    let pieces = ["a", "é", "€", "𝄞"];
    let mut i = 0;
    while s.len() < len {
        let piece = pieces[i % pieces.len()];
        if s.len() + piece.len() <= len {
            s.push_str(piece);
        } else {
            s.push('z');
        }
        i += 1;
    }
    s
}

/// Moves every pending byte from `from` to `to` in chunks of `chunk` bytes
/// and returns the events `to` reports.
fn deliver(from: &mut Connection, to: &mut Connection, chunk: usize) -> Vec<Event> {
    let mut wire = Vec::new();
    from.poll_transmit(&mut wire);
    let mut events = Vec::new();
    for piece in wire.chunks(chunk.max(1)) {
        to.recv(piece);
        while let Some(event) = to.poll_event().expect("no protocol error") {
            events.push(event);
        }
    }
    events
}

/// Sends `data` as fragments of at most `fragment` bytes: always at least
/// two frames (the last may be empty), with a ping after the first.
fn send_fragmented(conn: &mut Connection, kind: MessageKind, data: &[u8], fragment: usize) {
    let (first, rest) = data.split_at(fragment.min(data.len()));
    conn.send_fragment(kind, first, false).unwrap();
    // A ping between fragments must not disturb the message.
    conn.send_ping(b"mid-message").unwrap();
    let pieces: Vec<&[u8]> = rest.chunks(fragment).collect();
    for piece in &pieces {
        conn.send_fragment(kind, piece, false).unwrap();
    }
    conn.send_fragment(kind, &[], true).unwrap();
}

fn exchange(sender_role: Role) {
    let receiver_role = match sender_role {
        Role::Client => Role::Server,
        Role::Server => Role::Client,
    };
    let mut tx = Connection::new(sender_role, Config::default());
    let mut rx = Connection::new(receiver_role, Config::default());
    for (n, &len) in SIZES.iter().enumerate() {
        let chunk = [1, 7, 4096, 100_000][n % 4];
        let binary = payload(len, n as u8);
        tx.send_binary(&binary).unwrap();
        assert_eq!(
            deliver(&mut tx, &mut rx, chunk),
            vec![Event::Binary(binary.clone().into())]
        );

        let txt = text(len);
        tx.send_text(&txt).unwrap();
        assert_eq!(
            deliver(&mut tx, &mut rx, chunk),
            vec![Event::Text(txt.clone().into())]
        );

        send_fragmented(&mut tx, MessageKind::Binary, &binary, 1000);
        let events = deliver(&mut tx, &mut rx, chunk);
        let ping = Event::Control(Control::Ping(
            wsproto::ControlPayload::new(b"mid-message").unwrap(),
        ));
        assert_eq!(events, vec![ping.clone(), Event::Binary(binary.into())]);
        // The receiver answered the ping.
        let pong = Event::Control(Control::Pong(
            wsproto::ControlPayload::new(b"mid-message").unwrap(),
        ));
        assert_eq!(deliver(&mut rx, &mut tx, chunk), vec![pong]);

        // Text fragments of 3 bytes split multi-byte characters.
        send_fragmented(&mut tx, MessageKind::Text, txt.as_bytes(), 3.max(len / 5));
        assert_eq!(
            deliver(&mut tx, &mut rx, chunk),
            vec![ping, Event::Text(txt.into())]
        );
        deliver(&mut rx, &mut tx, chunk);
    }
    close_handshake(&mut tx, &mut rx);
}

/// `a` starts the closing handshake, `b` answers; both end `Closed`.
fn close_handshake(a: &mut Connection, b: &mut Connection) {
    a.close(std::time::Instant::now(), CloseCode::GOING_AWAY, "bye")
        .unwrap();
    assert_eq!(a.state(), State::Closing(Initiator::Local));
    assert_eq!(a.send_text("late"), Err(SendError::Closed));
    let events = deliver(a, b, 5);
    let [Event::Control(Control::Close(frame))] = events.as_slice() else {
        panic!("expected one close event, got {events:?}");
    };
    assert_eq!(
        (frame.code(), frame.reason()),
        (CloseCode::GOING_AWAY, "bye")
    );
    assert_eq!(b.state(), State::Closing(Initiator::Remote));
    let events = deliver(b, a, 5);
    assert_eq!(b.state(), State::Closed);
    let [Event::Control(Control::Close(echo))] = events.as_slice() else {
        panic!("expected the close echo, got {events:?}");
    };
    assert_eq!(echo.code(), CloseCode::GOING_AWAY);
    assert_eq!(a.state(), State::Closed);
    // Both sides end cleanly at end of stream.
    a.recv_eof();
    b.recv_eof();
    assert_eq!(a.poll_event(), Ok(None));
    assert_eq!(b.poll_event(), Ok(None));
}

#[test]
fn client_to_server_messages_of_every_length_class() {
    exchange(Role::Client);
}

#[test]
fn server_to_client_messages_of_every_length_class() {
    exchange(Role::Server);
}

#[test]
fn streaming_level_reassembles_to_the_same_messages_in_constant_memory() {
    let mut client = Connection::new(Role::Client, Config::default());
    let mut config = Config::default();
    // Streaming passes any size through: the message limit is lifted.
    config.max_message_len = u64::MAX;
    let mut server = Connection::new(Role::Server, config).into_streaming();
    let big = payload(1 << 20, 9);
    for fragment in big.chunks(300_000) {
        client
            .send_fragment(MessageKind::Binary, fragment, false)
            .unwrap();
    }
    client
        .send_fragment(MessageKind::Binary, &[], true)
        .unwrap();
    let mut wire = Vec::new();
    client.poll_transmit(&mut wire);

    let mut received = Vec::new();
    let mut largest_piece = 0;
    let mut fins = 0;
    // Read 8 KiB at a time, as a socket would.
    for chunk in wire.chunks_mut(8192) {
        let mut at = 0;
        loop {
            let (used, event) = server.recv_in_place(&mut chunk[at..]).unwrap();
            at += used;
            match event {
                Some(StreamEvent::Data { kind, payload, fin }) => {
                    assert_eq!(kind, MessageKind::Binary);
                    largest_piece = largest_piece.max(payload.len());
                    received.extend_from_slice(payload);
                    fins += usize::from(fin);
                }
                Some(other) => panic!("unexpected {other:?}"),
                None => break,
            }
        }
        assert_eq!(at, chunk.len());
    }
    assert_eq!(received, big);
    assert_eq!(fins, 1);
    assert!(largest_piece <= 8192);
}

#[test]
fn the_server_may_start_the_closing_handshake_too() {
    let mut client = Connection::new(Role::Client, Config::default());
    let mut server = Connection::new(Role::Server, Config::default());
    close_handshake(&mut server, &mut client);
}

#[test]
fn messages_in_flight_before_a_close_are_delivered_and_answerable() {
    let mut client = Connection::new(Role::Client, Config::default());
    let mut server = Connection::new(Role::Server, Config::default());
    client.send_text("one").unwrap();
    client.send_text("two").unwrap();
    client
        .close(std::time::Instant::now(), CloseCode::NORMAL, "")
        .unwrap();
    let mut wire = Vec::new();
    client.poll_transmit(&mut wire);
    server.recv(&wire);
    // Both messages arrive before the close and can still be answered.
    for expected in ["one", "two"] {
        let Some(Event::Text(text)) = server.poll_event().unwrap() else {
            panic!("expected {expected}");
        };
        assert_eq!(text, expected);
        server.send_text(&text).unwrap();
    }
    assert!(matches!(
        server.poll_event(),
        Ok(Some(Event::Control(Control::Close(_))))
    ));
    assert_eq!(deliver(&mut server, &mut client, 64).len(), 3);
    assert_eq!(client.state(), State::Closed);
    assert_eq!(server.state(), State::Closed);
}

#[test]
fn end_of_stream_mid_message_is_an_abnormal_closure() {
    let mut client = Connection::new(Role::Client, Config::default());
    let mut server = Connection::new(Role::Server, Config::default());
    client.send_binary(&payload(1000, 1)).unwrap();
    let mut wire = Vec::new();
    client.poll_transmit(&mut wire);
    server.recv(&wire[..500]);
    server.recv_eof();
    assert_eq!(server.poll_event(), Err(ConnectionError::UnexpectedEof));
    assert_eq!(
        ConnectionError::UnexpectedEof.close_code(),
        CloseCode::ABNORMAL_CLOSURE
    );
    assert!(server.pending_transmit().is_empty());
    assert_eq!(server.state(), State::Closed);
}

#[test]
fn the_initiator_stays_local_when_both_closes_cross() {
    let mut client = Connection::new(Role::Client, Config::default());
    let mut server = Connection::new(Role::Server, Config::default());
    client
        .close(std::time::Instant::now(), CloseCode::NORMAL, "")
        .unwrap();
    server
        .close(std::time::Instant::now(), CloseCode::GOING_AWAY, "")
        .unwrap();
    // Each receives the other's close before its own has been written.
    let mut to_server = Vec::new();
    to_server.extend_from_slice(client.pending_transmit());
    let mut to_client = Vec::new();
    to_client.extend_from_slice(server.pending_transmit());
    server.recv(&to_server);
    client.recv(&to_client);
    assert!(
        matches!(server.poll_event(), Ok(Some(Event::Control(Control::Close(f)))) if f.code() == CloseCode::NORMAL)
    );
    assert!(
        matches!(client.poll_event(), Ok(Some(Event::Control(Control::Close(f)))) if f.code() == CloseCode::GOING_AWAY)
    );
    // Neither echoes: each had already sent its close.
    assert_eq!(server.pending_transmit(), &to_client[..]);
    assert_eq!(server.state(), State::Closing(Initiator::Local));
    let len = server.pending_transmit().len();
    server.advance_transmit(len);
    assert_eq!(server.state(), State::Closed);
    let len = client.pending_transmit().len();
    client.advance_transmit(len);
    assert_eq!(client.state(), State::Closed);
}
