//! Caller misuse is a typed `SendError`: nothing is queued and the
//! connection state does not change.

#![cfg(feature = "std")]

use wsproto::{
    CloseCode, Config, Connection, EntropyError, EntropySource, Event, MessageKind, Misuse, Role,
    SendError, State,
};

fn server() -> Connection {
    Connection::new(Role::Server, Config::default())
}

/// Asserts that `attempt` fails with `expected` and leaves no bytes queued.
fn refused(
    conn: &mut Connection,
    expected: SendError,
    attempt: impl FnOnce(&mut Connection) -> Result<(), SendError>,
) {
    let before = conn.pending_transmit().to_vec();
    let state = conn.state();
    assert_eq!(attempt(conn), Err(expected));
    assert_eq!(conn.pending_transmit(), &before[..], "nothing queued");
    assert_eq!(conn.state(), state, "state unchanged");
}

#[test]
fn control_payloads_over_125_bytes_are_refused() {
    let mut conn = server();
    refused(
        &mut conn,
        SendError::Misuse(Misuse::ControlPayloadTooLong(126)),
        |c| c.send_ping(&[0; 126]),
    );
    refused(
        &mut conn,
        SendError::Misuse(Misuse::ControlPayloadTooLong(200)),
        |c| c.send_pong(&[0; 200]),
    );
    conn.send_ping(&[7; 125]).unwrap();
    assert_eq!(&conn.pending_transmit()[..2], &[0x89, 125]);
}

#[test]
fn close_reasons_over_123_bytes_and_unsendable_codes_are_refused() {
    let mut conn = server();
    let long = "x".repeat(124);
    refused(
        &mut conn,
        SendError::Misuse(Misuse::CloseReasonTooLong(124)),
        |c| c.close(std::time::Instant::now(), CloseCode::NORMAL, &long),
    );
    for code in [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000] {
        refused(
            &mut conn,
            SendError::Misuse(Misuse::UnsendableCloseCode(CloseCode(code))),
            |c| c.close(std::time::Instant::now(), CloseCode(code), ""),
        );
    }
    conn.close(std::time::Instant::now(), CloseCode(4000), &"y".repeat(123))
        .unwrap();
    assert_eq!(&conn.pending_transmit()[..4], &[0x88, 125, 0x0f, 0xa0]);
}

#[test]
fn nothing_can_be_sent_after_a_close() {
    let mut conn = server();
    conn.close(std::time::Instant::now(), CloseCode::NORMAL, "")
        .unwrap();
    refused(&mut conn, SendError::Closed, |c| c.send_text("late"));
    refused(&mut conn, SendError::Closed, |c| c.send_binary(b"late"));
    refused(&mut conn, SendError::Closed, |c| c.send_ping(b""));
    refused(&mut conn, SendError::Closed, |c| c.send_pong(b""));
    refused(&mut conn, SendError::Closed, |c| {
        c.send_fragment(MessageKind::Text, b"a", true)
    });
    refused(&mut conn, SendError::Closed, |c| {
        c.close(std::time::Instant::now(), CloseCode::NORMAL, "")
    });
}

#[test]
fn a_fragmented_message_must_finish_before_another_starts() {
    let mut conn = server();
    conn.send_fragment(MessageKind::Binary, b"ab", false)
        .unwrap();
    refused(
        &mut conn,
        SendError::Misuse(Misuse::MessageInProgress),
        |c| c.send_text("x"),
    );
    refused(
        &mut conn,
        SendError::Misuse(Misuse::MessageInProgress),
        |c| c.send_binary(b"x"),
    );
    refused(
        &mut conn,
        SendError::Misuse(Misuse::MessageInProgress),
        |c| c.send_fragment(MessageKind::Text, b"x", true),
    );
    // Control frames may interleave; the message then continues.
    conn.send_ping(b"p").unwrap();
    conn.send_fragment(MessageKind::Binary, b"cd", true)
        .unwrap();
    conn.send_text("next").unwrap();
    assert_eq!(
        conn.pending_transmit(),
        &[
            0x02, 2, b'a', b'b', // binary, FIN clear
            0x89, 1, b'p', // ping
            0x80, 2, b'c', b'd', // continuation, FIN
            0x81, 4, b'n', b'e', b'x', b't',
        ][..]
    );
}

#[test]
fn text_fragments_may_split_characters_but_must_form_utf8() {
    let euro = "€".as_bytes();
    let mut conn = server();
    conn.send_fragment(MessageKind::Text, &euro[..1], false)
        .unwrap();
    conn.send_fragment(MessageKind::Text, &euro[1..], true)
        .unwrap();

    let mut conn = server();
    conn.send_fragment(MessageKind::Text, &euro[..2], false)
        .unwrap();
    // The message may not end inside the character...
    refused(&mut conn, SendError::Misuse(Misuse::InvalidUtf8), |c| {
        c.send_fragment(MessageKind::Text, b"", true)
    });
    // ...nor continue with a byte that breaks it.
    refused(&mut conn, SendError::Misuse(Misuse::InvalidUtf8), |c| {
        c.send_fragment(MessageKind::Text, b"a", false)
    });
    // A refused fragment leaves the message where it was.
    conn.send_fragment(MessageKind::Text, &euro[2..], true)
        .unwrap();

    let mut peer = Connection::new(Role::Client, Config::default());
    let mut wire = Vec::new();
    conn.poll_transmit(&mut wire);
    peer.recv(&wire);
    assert_eq!(peer.poll_event(), Ok(Some(Event::Text("€".into()))));
}

struct BrokenEntropy;

impl EntropySource for BrokenEntropy {
    fn fill(&mut self, _dest: &mut [u8]) -> Result<(), EntropyError> {
        Err(EntropyError::new(Some(5)))
    }
}

#[test]
fn a_failing_entropy_source_is_reported_and_nothing_is_sent() {
    let mut client =
        Connection::with_entropy(Role::Client, Config::default(), Box::new(BrokenEntropy));
    let error = SendError::Entropy(EntropyError::new(Some(5)));
    refused(&mut client, error, |c| c.send_text("x"));
    refused(&mut client, error, |c| c.send_ping(b""));
    refused(&mut client, error, |c| {
        c.send_fragment(MessageKind::Binary, b"x", false)
    });
    refused(&mut client, error, |c| {
        c.close(std::time::Instant::now(), CloseCode::NORMAL, "")
    });
    assert_eq!(client.state(), State::Open);
}

#[test]
fn connections_can_move_between_threads() {
    fn assert_send<T: Send>() {}
    assert_send::<Connection>();
    let mut conn = server();
    let handle = std::thread::spawn(move || {
        conn.send_text("from another thread").unwrap();
        conn.pending_transmit().len()
    });
    assert_eq!(handle.join().unwrap(), 2 + "from another thread".len());
}
