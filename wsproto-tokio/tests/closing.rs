//! The closing handshake's endings over loopback TCP: the peer's close is
//! handed out and echoed, then `recv` ends; a peer that resets the
//! connection right after its close still has its close handed out; a
//! transport that ends without a close is `UnexpectedEof`; after the end,
//! sending fails, and `close` says it did not end cleanly.

mod common;

use common::{Peer, listen, raw_client, within};
use tokio::net::TcpStream;
use wsproto::{CloseCode, Config, ConnectionError};
use wsproto_tokio::{Error, Message, WebSocket};

async fn server_and_peer() -> (WebSocket<TcpStream>, Peer<TcpStream>) {
    let (listener, addr) = listen().await;
    let peer = tokio::spawn(raw_client(addr, Config::default()));
    let (stream, _) = listener.accept().await.unwrap();
    let ws = within("accept", wsproto_tokio::accept(stream))
        .await
        .unwrap();
    (ws, within("raw handshake", peer).await.unwrap())
}

fn close_code(message: Option<Result<Message, Error>>) -> (CloseCode, String) {
    match message {
        Some(Ok(Message::Close(Some(frame)))) => (frame.code(), frame.reason().to_owned()),
        other => panic!("expected the peer's close, got {other:?}"),
    }
}

#[tokio::test]
async fn the_peers_close_is_handed_out_and_echoed() {
    let (mut ws, mut peer) = server_and_peer().await;
    peer.conn.send_text("last").unwrap();
    let now = std::time::Instant::now();
    peer.conn.close(now, CloseCode::GOING_AWAY, "bye").unwrap();
    peer.flush().await;
    let last = within("recv", ws.recv()).await.unwrap().unwrap();
    assert_eq!(last, Message::text("last"));
    let close = within("recv", ws.recv()).await;
    assert_eq!(close_code(close), (CloseCode::GOING_AWAY, "bye".to_owned()));
    assert!(within("recv", ws.recv()).await.is_none());
    assert!(matches!(
        ws.send(Message::text("late")).await,
        Err(Error::Send(_))
    ));
    // The echo carries the peer's code; then our side ends.
    let echo = within("the echo", peer.close_then_eof()).await;
    assert_eq!(echo.unwrap().code(), CloseCode::GOING_AWAY);
    // Closing a cleanly closed connection is a success that sends nothing.
    within("close", ws.close(CloseCode::NORMAL, ""))
        .await
        .expect("the closing handshake finished");
}

#[tokio::test]
async fn a_close_followed_by_a_reset_is_still_handed_out() {
    for _ in 0..5 {
        let (mut ws, mut peer) = server_and_peer().await;
        peer.conn.send_text("last").unwrap();
        let now = std::time::Instant::now();
        peer.conn
            .close(now, CloseCode::POLICY_VIOLATION, "go away")
            .unwrap();
        peer.flush().await;
        // Gone at once, with a reset: the echo cannot be written.
        peer.io.set_zero_linger().unwrap();
        drop(peer);
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        let last = within("recv", ws.recv()).await.unwrap().unwrap();
        assert_eq!(last, Message::text("last"));
        let close = within("recv", ws.recv()).await;
        assert_eq!(
            close_code(close),
            (CloseCode::POLICY_VIOLATION, "go away".to_owned())
        );
        assert!(within("recv", ws.recv()).await.is_none());
    }
}

#[tokio::test]
async fn a_transport_that_ends_without_a_close_is_unexpected_eof() {
    let (mut ws, mut peer) = server_and_peer().await;
    peer.conn.send_binary(&[1, 2, 3]).unwrap();
    peer.flush().await;
    drop(peer);
    let first = within("recv", ws.recv()).await.unwrap().unwrap();
    assert_eq!(
        first,
        Message::binary(vec![1, 2, 3]),
        "what came before first"
    );
    let ended = within("recv", ws.recv()).await;
    assert!(
        matches!(
            ended,
            Some(Err(Error::Connection(ConnectionError::UnexpectedEof)))
        ),
        "{ended:?}"
    );
    assert!(within("recv", ws.recv()).await.is_none());
    assert!(ws.send(Message::text("late")).await.is_err());
    // The connection failed: closing it now is no clean closing handshake.
    let closed = within("close", ws.close(CloseCode::NORMAL, "")).await;
    assert!(matches!(closed, Err(Error::Closed)), "{closed:?}");
}
