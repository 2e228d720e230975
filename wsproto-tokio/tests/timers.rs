//! The driver's timers on tokio's paused clock: keepalive pings and their
//! timeout, the close timeout (after our close, and for a failure's close
//! frame that cannot be written), and both handshake timeouts.
//!
//! The transport is `tokio::io::duplex`, not TCP: with the clock paused,
//! tokio advances time whenever the runtime is idle, which with a socket
//! can be while bytes are still in flight in the kernel; an in-memory pipe
//! has no such window, so every deadline below is exact.

mod common;

use std::time::Duration;

use common::Peer;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::time::Instant;
use wsproto::frame::OpCode;
use wsproto::handshake::ResponseErrorKind;
use wsproto::{CloseCode, Config, Connection, ConnectionError, Control, Event, Role};
use wsproto_tokio::{ClientBuilder, Error, Message, WebSocket};

const INTERVAL: Duration = Duration::from_secs(30);
const ANSWER: Duration = Duration::from_secs(20);

fn keepalive() -> Config {
    let mut config = Config::default();
    config.keepalive_interval = Some(INTERVAL);
    config.keepalive_timeout = ANSWER;
    config
}

/// Our server over an in-memory pipe, and a raw client on its other end.
fn server_and_peer(
    config: Config,
    capacity: usize,
) -> (WebSocket<DuplexStream>, Peer<DuplexStream>) {
    let (ours, theirs) = tokio::io::duplex(capacity);
    let ws = WebSocket::from_connection(ours, Connection::new(Role::Server, config));
    let peer = Peer::new(theirs, Connection::new(Role::Client, Config::default()));
    (ws, peer)
}

/// Fails the test when `future` has not finished after `limit` of (paused,
/// auto-advancing) time: a hang shows as this panic, at once.
async fn by<F: Future>(limit: Duration, future: F) -> F::Output {
    common::finishes_within(limit, future)
        .await
        .unwrap_or_else(|| panic!("nothing happened within {limit:?}"))
}

/// Reads one raw frame (header and payload) off the pipe, unanswered.
async fn raw_frame(io: &mut DuplexStream) -> (u8, Vec<u8>) {
    let mut head = [0u8; 2];
    io.read_exact(&mut head).await.unwrap();
    assert!(head[1] < 126, "a short frame");
    let mut payload = vec![0u8; usize::from(head[1])];
    io.read_exact(&mut payload).await.unwrap();
    (head[0], payload)
}

#[tokio::test(start_paused = true)]
async fn a_silent_peer_gets_a_ping_after_the_interval() {
    let (mut ws, mut peer) = server_and_peer(keepalive(), 64 << 10);
    let start = Instant::now();
    let _recv = tokio::spawn(async move { ws.recv().await.map(|m| m.map_err(drop)) });
    let (opcode, _) = by(2 * INTERVAL, raw_frame(&mut peer.io)).await;
    assert_eq!(opcode, 0x89, "a ping");
    assert_eq!(start.elapsed(), INTERVAL, "exactly one interval of silence");
}

#[tokio::test(start_paused = true)]
async fn an_unanswered_ping_fails_the_connection() {
    let (mut ws, mut peer) = server_and_peer(keepalive(), 64 << 10);
    let start = Instant::now();
    let recv = tokio::spawn(async move {
        let first = ws.recv().await;
        (first, ws.recv().await)
    });
    let (opcode, _) = by(2 * INTERVAL, raw_frame(&mut peer.io)).await;
    assert_eq!(opcode, 0x89);
    // Never answered.
    let (first, then) = by(2 * (INTERVAL + ANSWER), recv).await.unwrap();
    assert!(
        matches!(
            first,
            Some(Err(Error::Connection(ConnectionError::KeepaliveTimeout)))
        ),
        "{first:?}"
    );
    assert_eq!(start.elapsed(), INTERVAL + ANSWER);
    assert!(then.is_none(), "the error is returned once, then None");
    // Nothing more was sent (a timeout sends no close frame): the transport
    // just ends.
    let mut rest = Vec::new();
    peer.io.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty(), "{rest:?}");
}

#[tokio::test(start_paused = true)]
async fn a_peer_that_answers_keeps_the_connection_open() {
    let (ws, mut peer) = server_and_peer(keepalive(), 64 << 10);
    let (mut reader, _writer) = ws.split();
    let start = Instant::now();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(message) = reader.recv().await {
            let _ = tx.send(message);
        }
    });
    for round in 1..=10u32 {
        // The peer's connection answers each ping as it reads it.
        match by(2 * INTERVAL, peer.event()).await {
            Ok(Some(Event::Control(Control::Ping(_)))) => {}
            other => panic!("{other:?}"),
        }
        assert_eq!(start.elapsed(), round * INTERVAL, "one ping per interval");
        // The pong reached our reader at once, and reset the silence.
        let pong = by(Duration::from_millis(1), rx.recv()).await.unwrap();
        assert!(matches!(pong, Ok(Message::Pong(_))), "{pong:?}");
    }
    peer.conn.send_text("still here").unwrap();
    peer.flush().await;
    let message = by(INTERVAL, rx.recv()).await.unwrap().unwrap();
    assert_eq!(message, Message::text("still here"));
}

#[tokio::test(start_paused = true)]
async fn close_ends_with_the_close_timeout_when_the_peer_never_answers() {
    let (mut ws, peer) = server_and_peer(Config::default(), 64 << 10);
    let start = Instant::now();
    let closed = by(Duration::from_secs(60), ws.close(CloseCode::NORMAL, "bye")).await;
    assert!(
        matches!(
            closed,
            Err(Error::Connection(ConnectionError::CloseTimeout))
        ),
        "{closed:?}"
    );
    assert_eq!(start.elapsed(), Duration::from_secs(10), "the default");
    assert!(ws.recv().await.is_none());
    drop(peer);
}

#[tokio::test(start_paused = true)]
async fn recv_after_sending_a_close_ends_with_the_close_timeout() {
    let mut config = Config::default();
    config.close_timeout = Some(Duration::from_secs(3));
    let (mut ws, mut peer) = server_and_peer(config, 64 << 10);
    ws.send(Message::close(CloseCode::NORMAL, ""))
        .await
        .unwrap();
    let start = Instant::now();
    // Messages the peer sent before it saw our close still arrive.
    peer.conn.send_text("crossing").unwrap();
    peer.flush().await;
    let crossing = by(Duration::from_secs(60), ws.recv()).await;
    assert_eq!(crossing.unwrap().unwrap(), Message::text("crossing"));
    let ended = by(Duration::from_secs(60), ws.recv()).await;
    assert!(
        matches!(
            ended,
            Some(Err(Error::Connection(ConnectionError::CloseTimeout)))
        ),
        "{ended:?}"
    );
    assert_eq!(start.elapsed(), Duration::from_secs(3));
    assert!(ws.recv().await.is_none());
}

/// A protocol error queues a close frame; when the peer reads nothing, the
/// close timeout ends the wait for it to be written.
#[tokio::test(start_paused = true)]
async fn a_failures_close_frame_that_cannot_be_written_times_out() {
    let (mut ws, mut peer) = server_and_peer(Config::default(), 1024);
    // Fill the pipe: the peer never reads.
    ws.feed(Message::binary(vec![0u8; 8 << 10])).await.unwrap();
    assert!(
        tokio::time::timeout(Duration::from_secs(1), ws.flush())
            .await
            .is_err()
    );
    // An unmasked frame from a client.
    peer.write_raw(&common::frame(OpCode::Text, true, b"hi", None))
        .await;
    let start = Instant::now();
    let ended = by(Duration::from_secs(60), ws.recv()).await;
    assert!(
        matches!(
            ended,
            Some(Err(Error::Connection(ConnectionError::Protocol(_))))
        ),
        "{ended:?}"
    );
    assert_eq!(start.elapsed(), Duration::from_secs(10));
    assert!(ws.recv().await.is_none());
}

#[tokio::test(start_paused = true)]
async fn a_request_cut_short_is_answered_408() {
    let (server_io, mut client_io) = tokio::io::duplex(4096);
    let start = Instant::now();
    let accept = tokio::spawn(wsproto_tokio::accept(server_io));
    client_io
        .write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    by(Duration::from_secs(60), client_io.read_to_end(&mut answer))
        .await
        .unwrap();
    assert_eq!(start.elapsed(), Duration::from_secs(10), "the default");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408 "), "{answer}");
    drop(client_io);
    match by(Duration::from_secs(60), accept).await.unwrap() {
        Err(Error::Request(error)) => assert_eq!(error.status(), 408),
        Err(other) => panic!("{other:?}"),
        Ok(_) => panic!("accepted half a request"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_server_that_never_answers_times_the_client_out() {
    let (client_io, mut server_io) = tokio::io::duplex(4096);
    let mut config = Config::default();
    config.handshake_timeout = Some(Duration::from_secs(5));
    let start = Instant::now();
    let connect = ClientBuilder::new("ws://127.0.0.1/")
        .config(config)
        .connect_on(client_io);
    let outcome = by(Duration::from_secs(60), connect).await;
    match outcome {
        Err(Error::Response(error)) => assert_eq!(error.kind(), ResponseErrorKind::Timeout),
        Err(other) => panic!("{other:?}"),
        Ok(_) => panic!("connected without an answer"),
    }
    assert_eq!(start.elapsed(), Duration::from_secs(5));
    let mut request = vec![0u8; 4096];
    let n = server_io.read(&mut request).await.unwrap();
    assert!(request[..n].starts_with(b"GET / HTTP/1.1\r\n"));
}

/// The keepalive in a split reader; and the handshake over the pipe too
/// (our `accept`, a raw client), for the leftover path.
#[tokio::test(start_paused = true)]
async fn a_split_reader_times_out_an_unanswered_ping() {
    let (server_io, client_io) = tokio::io::duplex(64 << 10);
    let acceptor = wsproto_tokio::Acceptor::new().config(keepalive());
    let accept = acceptor.accept(server_io);
    let client = common::raw_client_on(client_io, "ws://127.0.0.1/", Config::default());
    let (ws, mut peer) = tokio::join!(accept, client);
    let (mut reader, _writer) = ws.unwrap().split();
    let start = Instant::now();
    let recv = tokio::spawn(async move { reader.recv().await });
    let (opcode, _) = by(2 * INTERVAL, raw_frame(&mut peer.io)).await;
    assert_eq!(opcode, 0x89);
    let ended = by(4 * INTERVAL, recv).await.unwrap();
    assert!(
        matches!(
            ended,
            Some(Err(Error::Connection(ConnectionError::KeepaliveTimeout)))
        ),
        "{ended:?}"
    );
    assert_eq!(start.elapsed(), INTERVAL + ANSWER);
}

/// A peer that stops in the middle of a frame is silent too: the bytes it
/// sent before do not count as heard again at every turn of the loop.
#[tokio::test(start_paused = true)]
async fn a_peer_stalled_mid_frame_gets_a_ping_and_times_out() {
    let (mut ws, mut peer) = server_and_peer(keepalive(), 64 << 10);
    let start = Instant::now();
    let recv = tokio::spawn(async move { ws.recv().await });
    // The header of a 1000-byte text frame and ten bytes of it.
    let frame = common::frame(OpCode::Text, true, &[b'a'; 1000], Some([1, 2, 3, 4]));
    peer.write_raw(&frame[..18]).await;
    let (opcode, _) = by(2 * INTERVAL, raw_frame(&mut peer.io)).await;
    assert_eq!(opcode, 0x89, "a ping");
    assert_eq!(start.elapsed(), INTERVAL);
    let ended = by(4 * INTERVAL, recv).await.unwrap();
    assert!(
        matches!(
            ended,
            Some(Err(Error::Connection(ConnectionError::KeepaliveTimeout)))
        ),
        "{ended:?}"
    );
    assert_eq!(start.elapsed(), INTERVAL + ANSWER);
}
