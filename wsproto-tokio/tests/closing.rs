//! The closing handshake's endings over loopback TCP: the peer's close is
//! handed out and echoed, then `recv` ends; a peer that resets the
//! connection right after its close still has its close handed out; a
//! transport that ends without a close is `UnexpectedEof`; after the end,
//! sending fails, and `close` says it did not end cleanly. A client ends
//! TCP only after the server has (RFC 6455 section 7.1.1), or at the close
//! timeout; the server's end arriving before the client's echo is out is
//! still a clean end.

mod common;

use std::time::{Duration, Instant};

use common::{Peer, client_to, finishes_within, listen, raw_client, raw_server_on, within};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use wsproto::{CloseCode, Config, ConnectionError, Control, Event};
use wsproto_tokio::{ClientStream, Error, Message, WebSocket};

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

/// Our client (with `config`) and a raw server on loopback TCP.
async fn client_and_peer(config: Config) -> (WebSocket<ClientStream>, Peer<TcpStream>) {
    let (listener, addr) = listen().await;
    let server = async {
        let (stream, _) = listener.accept().await.unwrap();
        raw_server_on(stream, Config::default()).await
    };
    within("handshake", async {
        tokio::join!(client_to(addr, config), server)
    })
    .await
}

/// The server's close, echoed by the client; returns once the echo is in.
async fn close_from_the_server(ws: &mut WebSocket<ClientStream>, peer: &mut Peer<TcpStream>) {
    peer.conn
        .close(Instant::now(), CloseCode::NORMAL, "")
        .unwrap();
    peer.flush().await;
    let close = within("recv", ws.recv()).await;
    assert!(matches!(close, Some(Ok(Message::Close(_)))), "{close:?}");
}

/// Decodes `bytes`, which must be exactly the client's echo of our close
/// (no other frame, nothing after it): its code.
fn echoed_close(peer: &mut Peer<TcpStream>, bytes: &[u8]) -> Option<CloseCode> {
    peer.conn.recv(bytes);
    let event = peer.conn.poll_event().unwrap();
    let Some(Event::Control(Control::Close(frame))) = event else {
        panic!("expected the close echo, got {event:?}");
    };
    assert_eq!(peer.conn.poll_event().unwrap(), None, "nothing after it");
    (!frame.is_empty()).then(|| frame.code())
}

#[tokio::test]
async fn a_client_waits_for_the_server_to_end_tcp_first() {
    let (mut ws, mut peer) = client_and_peer(Config::default()).await;
    close_from_the_server(&mut ws, &mut peer).await;
    let client = tokio::spawn(async move { (ws.recv().await.is_none(), ws) });
    // The echo arrives, and then nothing: the client has not ended TCP.
    let mut buf = [0u8; 64];
    let n = within("the echo", peer.io.read(&mut buf)).await.unwrap();
    assert_eq!(echoed_close(&mut peer, &buf[..n]), Some(CloseCode::NORMAL));
    let more = finishes_within(Duration::from_millis(300), peer.io.read(&mut buf)).await;
    assert!(more.is_none(), "the client ended TCP first: {more:?}");
    // The server ends it; the client's `recv` ends at once.
    drop(peer);
    let (ended, _ws) = within("the client's end", client).await.unwrap();
    assert!(ended, "recv ends with None after a clean close");
}

#[tokio::test]
async fn a_client_ends_tcp_at_the_close_timeout_when_the_server_does_not() {
    let mut config = Config::default();
    config.close_timeout = Some(Duration::from_millis(200));
    let (mut ws, mut peer) = client_and_peer(config).await;
    close_from_the_server(&mut ws, &mut peer).await;
    let started = Instant::now();
    assert!(within("recv", ws.recv()).await.is_none());
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(150),
        "gave up after {waited:?}"
    );
    // Its end reaches the server, after the echo and nothing else.
    let mut rest = Vec::new();
    within("the client's end", peer.io.read_to_end(&mut rest))
        .await
        .unwrap();
    assert_eq!(echoed_close(&mut peer, &rest), Some(CloseCode::NORMAL));
}

/// The server's close and the end of its stream arrive while the client's
/// echo is still waiting to be written (the transport takes one byte at a
/// time, and the server reads it only later): the client ends cleanly once
/// its echo is out, not with `UnexpectedEof`. Found by the `driver` fuzz
/// target.
#[tokio::test]
async fn the_end_after_the_peers_close_waits_for_the_echo_to_go_out() {
    use tokio::io::AsyncWriteExt;
    // One byte of buffer each way: the echo (6 bytes) cannot go at once.
    let (client_side, mut server_side) = tokio::io::duplex(1);
    let conn = wsproto::Connection::new(wsproto::Role::Client, Config::default());
    let mut ws = WebSocket::from_connection(client_side, conn);
    let server = tokio::spawn(async move {
        // A close with 1000, then the end of the server's stream.
        server_side
            .write_all(&[0x88, 0x02, 0x03, 0xe8])
            .await
            .unwrap();
        server_side.shutdown().await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut echo = Vec::new();
        server_side.read_to_end(&mut echo).await.unwrap();
        echo
    });
    let (code, _) = close_code(within("the close", ws.recv()).await);
    assert_eq!(code, CloseCode::NORMAL);
    assert!(
        within("the end", ws.recv()).await.is_none(),
        "the connection ends cleanly"
    );
    let echo = within("the echo", server).await.unwrap();
    // A masked close frame carrying 1000.
    assert_eq!(echo.len(), 8, "{echo:02x?}");
    assert_eq!(&echo[..2], &[0x88, 0x82]);
    let key = [echo[2], echo[3], echo[4], echo[5]];
    assert_eq!([echo[6] ^ key[0], echo[7] ^ key[1]], [0x03, 0xe8]);
}
