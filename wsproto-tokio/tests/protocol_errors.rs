//! A peer that breaks the protocol, over loopback TCP: `recv` returns
//! `Error::Connection(ConnectionError::Protocol(..))` once, the peer
//! receives our close frame with the matching code (1002, 1007) before the
//! transport ends, and `recv` returns `None` from then on. Server and
//! client side.

mod common;

use common::{Peer, frame, listen, raw_client, raw_server_on, within};
use tokio::net::TcpStream;
use wsproto::frame::OpCode;
use wsproto::{CloseCode, Config, ConnectionError, ProtocolError};
use wsproto_tokio::{ClientBuilder, Error, Message, WebSocket};

const MASK: Option<[u8; 4]> = Some([0x37, 0xfa, 0x21, 0x3d]);

async fn server_and_peer() -> (WebSocket<TcpStream>, Peer<TcpStream>) {
    let (listener, addr) = listen().await;
    let peer = tokio::spawn(raw_client(addr, Config::default()));
    let (stream, _) = listener.accept().await.unwrap();
    let ws = within("accept", wsproto_tokio::accept(stream))
        .await
        .unwrap();
    (ws, within("raw handshake", peer).await.unwrap())
}

/// `bytes` from the peer make our server fail with `expected`; the peer
/// then gets a close frame with `code`, then the end of the transport.
async fn server_fails_on(bytes: &[u8], expected: ProtocolError, code: CloseCode) {
    let (mut ws, mut peer) = server_and_peer().await;
    peer.write_raw(bytes).await;
    let outcome = within("recv", ws.recv()).await;
    match outcome {
        Some(Err(Error::Connection(ConnectionError::Protocol(error)))) => {
            assert_eq!(error, expected)
        }
        other => panic!("{other:?}"),
    }
    // Our side stays open (no reset) until the peer has read everything.
    let close = within("the peer's reads", peer.close_then_eof()).await;
    let close = close.expect("a close frame before the transport ended");
    assert_eq!(close.code(), code);
    assert!(ws.recv().await.is_none());
    assert!(ws.recv().await.is_none(), "None from then on");
    assert!(ws.send(Message::text("late")).await.is_err());
}

#[tokio::test]
async fn an_unmasked_frame_to_a_server_is_answered_1002() {
    let bytes = frame(OpCode::Text, true, b"hi", None);
    server_fails_on(
        &bytes,
        ProtocolError::UnmaskedFrame,
        CloseCode::PROTOCOL_ERROR,
    )
    .await;
}

#[tokio::test]
async fn invalid_utf8_is_answered_1007() {
    let bytes = frame(OpCode::Text, true, b"ok \xff\xfe", MASK);
    server_fails_on(
        &bytes,
        ProtocolError::InvalidUtf8,
        CloseCode::INVALID_PAYLOAD,
    )
    .await;
}

#[tokio::test]
async fn invalid_utf8_fails_before_the_rest_of_its_frame_arrives() {
    // The header of a 100 000-byte text frame and its first bytes only:
    // the bad byte is caught as it arrives, without the rest.
    let payload: Vec<u8> = b"valid, then \xc0 invalid"
        .iter()
        .copied()
        .chain(std::iter::repeat_n(b'a', 100_000))
        .collect();
    let bytes = frame(OpCode::Text, true, &payload, MASK);
    server_fails_on(
        &bytes[..64],
        ProtocolError::InvalidUtf8,
        CloseCode::INVALID_PAYLOAD,
    )
    .await;
}

#[tokio::test]
async fn messages_after_the_violation_are_not_handed_out() {
    let mut bytes = frame(OpCode::Text, true, b"before", MASK);
    bytes.extend(frame(OpCode::Ping, false, b"", MASK));
    bytes.extend(frame(OpCode::Text, true, b"after", MASK));
    let (mut ws, mut peer) = server_and_peer().await;
    peer.write_raw(&bytes).await;
    let first = within("recv", ws.recv()).await.unwrap().unwrap();
    assert_eq!(first, Message::text("before"));
    let outcome = within("recv", ws.recv()).await;
    assert!(
        matches!(
            outcome,
            Some(Err(Error::Connection(ConnectionError::Protocol(
                ProtocolError::FragmentedControlFrame
            ))))
        ),
        "{outcome:?}"
    );
    let close = within("the peer's reads", peer.close_then_eof()).await;
    assert_eq!(close.unwrap().code(), CloseCode::PROTOCOL_ERROR);
    assert!(ws.recv().await.is_none());
}

#[tokio::test]
async fn a_masked_frame_to_a_client_is_answered_1002() {
    let (listener, addr) = listen().await;
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut peer = raw_server_on(stream, Config::default()).await;
        peer.write_raw(&frame(OpCode::Binary, true, &[1, 2, 3], MASK))
            .await;
        peer.close_then_eof().await
    });
    let (mut ws, _) = within(
        "connect",
        ClientBuilder::new(&format!("ws://{addr}/")).connect(),
    )
    .await
    .unwrap();
    let outcome = within("recv", ws.recv()).await;
    assert!(
        matches!(
            outcome,
            Some(Err(Error::Connection(ConnectionError::Protocol(
                ProtocolError::MaskedFrame
            ))))
        ),
        "{outcome:?}"
    );
    let close = within("the raw server", server).await.unwrap();
    assert_eq!(close.unwrap().code(), CloseCode::PROTOCOL_ERROR);
    assert!(ws.recv().await.is_none());
}
