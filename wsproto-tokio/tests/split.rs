//! Split halves in two tasks over loopback TCP: a parked reader never
//! blocks the writer, pings are answered whatever the writer does, either
//! half can close, and `reunite` takes back only its own other half.

mod common;

use std::time::Duration;

use common::{Peer, listen_small, numbered, raw_client_small, within};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use wsproto::{CloseCode, Config, ConnectionError, Control, Event};
use wsproto_tokio::{Error, Message, ReadHalf, WebSocket, WriteHalf};

/// Our server, and a raw client peer that the test drives by hand; small
/// kernel buffers, so what the kernel holds in flight is a few messages.
async fn server_and_peer(config: Config) -> (WebSocket<TcpStream>, Peer<TcpStream>) {
    let (listener, addr) = listen_small().await;
    let peer = tokio::spawn(raw_client_small(addr, Config::default()));
    let (stream, _) = listener.accept().await.unwrap();
    stream.set_nodelay(true).unwrap();
    let acceptor = wsproto_tokio::Acceptor::new().config(config);
    let ws = within("accept", acceptor.accept(stream)).await.unwrap();
    (ws, within("raw handshake", peer).await.unwrap())
}

/// Runs the reader in a task of its own, passing on what it receives; the
/// task returns the half once `recv` has returned `None`.
fn spawn_reader(
    mut reader: ReadHalf<TcpStream>,
) -> (
    mpsc::UnboundedReceiver<Result<Message, Error>>,
    tokio::task::JoinHandle<ReadHalf<TcpStream>>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        while let Some(message) = reader.recv().await {
            let _ = tx.send(message);
        }
        reader
    });
    (rx, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parked_reader_does_not_block_the_writer() {
    let (ws, mut peer) = server_and_peer(Config::default()).await;
    let (reader, mut writer) = ws.split();
    let (mut received, reading) = spawn_reader(reader);
    const COUNT: usize = 700;
    let peer_reads = tokio::spawn(async move {
        for n in 0..COUNT {
            let message = peer.message().await;
            assert_eq!(message, numbered(n), "message {n} arrives whole, in order");
        }
        peer
    });
    within("the writer's sends", async {
        for n in 0..COUNT {
            writer.send(numbered(n)).await.unwrap();
        }
    })
    .await;
    let mut peer = within("the peer's reads", peer_reads).await.unwrap();
    assert!(received.try_recv().is_err(), "the reader got nothing yet");
    assert!(!reading.is_finished(), "the reader is still parked in recv");

    // The parked reader still works.
    peer.conn.send_text("after").unwrap();
    peer.flush().await;
    let message = within("the reader", received.recv()).await.unwrap();
    assert_eq!(message.unwrap(), Message::text("after"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pings_are_answered_while_only_the_reader_is_polled() {
    let (ws, mut peer) = server_and_peer(Config::default()).await;
    let (reader, _idle_writer) = ws.split();
    let (mut received, _reading) = spawn_reader(reader);
    for round in 0..5u8 {
        peer.conn.send_ping(&[round; 3]).unwrap();
        peer.flush().await;
        let event = within("the pong", peer.event()).await.unwrap();
        let Some(Event::Control(Control::Pong(payload))) = event else {
            panic!("expected a pong, got {event:?}");
        };
        assert_eq!(&payload[..], &[round; 3]);
        let ping = within("the reader", received.recv()).await.unwrap();
        assert_eq!(ping.unwrap(), Message::Ping(vec![round; 3].into()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pings_are_answered_while_the_writer_is_busy() {
    let (ws, mut peer) = server_and_peer(Config::default()).await;
    let (reader, mut writer) = ws.split();
    let (_received, _reading) = spawn_reader(reader);
    const COUNT: usize = 400;
    let writing = tokio::spawn(async move {
        let chunk = vec![0x5a; 32 << 10];
        for n in 0..COUNT {
            let mut payload = chunk.clone();
            payload[..8].copy_from_slice(&(n as u64).to_be_bytes());
            writer.send(Message::binary(payload)).await.unwrap();
        }
        writer
    });
    // One ping at a time, each sent while messages stream in, each answered
    // before the next goes out (pongs to pings in flight together may be
    // coalesced, RFC 6455 section 5.5.3).
    let mut next = 0u64;
    let mut pongs = 0u8;
    let mut waiting = None;
    let mut last_ping_at = 0;
    let mut answered_at = Vec::new();
    within("messages and pongs", async {
        while next < COUNT as u64 || waiting.is_some() {
            let busy = next + 150 < COUNT as u64;
            if waiting.is_none() && busy && (pongs == 0 || next >= last_ping_at + 10) {
                peer.conn.send_ping(&[pongs]).unwrap();
                peer.flush().await;
                waiting = Some(pongs);
                last_ping_at = next;
            }
            match peer.event().await.unwrap().expect("open") {
                Event::Binary(payload) => {
                    let n = u64::from_be_bytes(payload[..8].try_into().unwrap());
                    assert_eq!(n, next, "in order");
                    assert_eq!(payload.len(), 32 << 10);
                    next += 1;
                }
                Event::Control(Control::Pong(payload)) => {
                    assert_eq!(Some(payload[0]), waiting.take(), "the pong to our ping");
                    answered_at.push((last_ping_at, next));
                    pongs += 1;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    })
    .await;
    // Each pong came in the stream while the writer was still busy: a few
    // messages after its ping (what the small kernel buffers hold; more
    // when the machine is loaded), long before the burst ended.
    assert!(pongs >= 20, "pings sent and answered at {answered_at:?}");
    assert!(
        answered_at.iter().all(|&(sent, at)| at < sent + 100),
        "pings sent and answered at {answered_at:?}"
    );
    within("the writer", writing).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_from_the_writer_ends_the_reader_after_the_peers_close() {
    let (ws, mut peer) = server_and_peer(Config::default()).await;
    let (reader, mut writer) = ws.split();
    let (mut received, reading) = spawn_reader(reader);
    writer.send(Message::text("last")).await.unwrap();
    within("close", writer.close(CloseCode::NORMAL, "bye"))
        .await
        .unwrap();
    assert!(writer.send(Message::text("late")).await.is_err());

    assert_eq!(within("peer", peer.message()).await, Message::text("last"));
    let event = within("peer", peer.event()).await.unwrap();
    let Some(Event::Control(Control::Close(frame))) = event else {
        panic!("expected our close, got {event:?}");
    };
    assert_eq!((frame.code(), frame.reason()), (CloseCode::NORMAL, "bye"));
    // The peer's echo went out with that event; our side then ends.
    assert_eq!(within("peer's end", peer.event()).await, Ok(None));

    let close = within("reader", received.recv()).await.unwrap().unwrap();
    let Message::Close(Some(echo)) = close else {
        panic!("expected the peer's close, got {close:?}");
    };
    assert_eq!(echo.code(), CloseCode::NORMAL);
    let mut reader = within("reader ends", reading).await.unwrap();
    assert!(received.recv().await.is_none(), "nothing after the close");
    assert!(reader.recv().await.is_none(), "and None again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_from_the_reader_waits_for_the_peer() {
    let (ws, mut peer) = server_and_peer(Config::default()).await;
    let (mut reader, mut writer) = ws.split();
    let peer_task = tokio::spawn(async move {
        let event = peer.event().await.unwrap();
        let Some(Event::Control(Control::Close(frame))) = event else {
            panic!("expected our close, got {event:?}");
        };
        assert_eq!(frame.code(), CloseCode::GOING_AWAY);
        // Answered by the event call; then the transport ends.
        assert_eq!(peer.event().await, Ok(None));
    });
    within(
        "the reader's close",
        reader.close(CloseCode::GOING_AWAY, ""),
    )
    .await
    .unwrap();
    within("peer", peer_task).await.unwrap();
    assert!(reader.recv().await.is_none());
    assert!(matches!(
        writer.send(Message::text("late")).await,
        Err(Error::Send(_))
    ));
}

/// The writer's close starts the close timeout even though the reader was
/// parked in `recv` (with no timer armed: none runs while open without a
/// keepalive) when it was sent, and the peer never answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_writers_close_times_out_in_a_parked_reader() {
    writers_close_times_out(|mut writer| async move {
        writer.close(CloseCode::NORMAL, "").await.unwrap();
        writer
    })
    .await;
}

/// The same for a close frame sent as a message (`Sink` and `send`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_close_message_from_the_writer_times_out_in_a_parked_reader() {
    writers_close_times_out(|mut writer| async move {
        writer.send(Message::Close(None)).await.unwrap();
        writer
    })
    .await;
}

async fn writers_close_times_out<F, Fut>(close: F)
where
    F: FnOnce(WriteHalf<TcpStream>) -> Fut,
    Fut: Future<Output = WriteHalf<TcpStream>>,
{
    let mut config = Config::default();
    config.close_timeout = Some(Duration::from_millis(200));
    let (ws, mut peer) = server_and_peer(config).await;
    let (reader, writer) = ws.split();
    let (mut received, _reading) = spawn_reader(reader);
    // Let the reader park in `recv` first.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let _writer = within("close", close(writer)).await;
    // The peer receives the close and never answers (nor ends the transport).
    let mut out = [0u8; 64];
    let n = tokio::io::AsyncReadExt::read(&mut peer.io, &mut out)
        .await
        .unwrap();
    assert!(n >= 2 && out[0] == 0x88, "our close frame");
    let ended = within("the close timeout in the reader", received.recv()).await;
    assert!(
        matches!(
            ended,
            Some(Err(Error::Connection(ConnectionError::CloseTimeout)))
        ),
        "{ended:?}"
    );
    drop(peer);
}

/// A writer blocked on a peer that reads nothing learns that the reader's
/// close timed out (the connection ended, what waited to be written was
/// dropped): its send finishes and the next one fails, whichever task ran
/// first when the timer fired. Over TCP, and over an in-memory pipe: the
/// kernel wakes a writer blocked on a socket when the reader shuts the
/// socket down, which hides a writer the driver forgot to wake; a pipe
/// (or a TLS stream holding unsent bytes) does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_writer_learns_that_the_reader_ended_the_connection() {
    for round in 0..6 {
        let mut config = Config::default();
        config.close_timeout = Some(Duration::from_millis(50));
        if round % 2 == 0 {
            let (ws, peer) = server_and_peer(config).await;
            blocked_writer_learns(ws).await;
            drop(peer);
        } else {
            let (ours, theirs) = tokio::io::duplex(4096);
            let conn = wsproto::Connection::new(wsproto::Role::Server, config);
            blocked_writer_learns(WebSocket::from_connection(ours, conn)).await;
            drop(theirs);
        }
    }
}

async fn blocked_writer_learns<IO>(ws: WebSocket<IO>)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut reader, mut writer) = ws.split();
    let writing = tokio::spawn(async move {
        // Until the transport is full, then blocked.
        loop {
            if let Err(error) = writer.send(Message::binary(vec![1u8; 4096])).await {
                return error;
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    let closed = within("the reader's close", reader.close(CloseCode::NORMAL, "")).await;
    assert!(
        matches!(
            closed,
            Err(Error::Connection(ConnectionError::CloseTimeout))
        ),
        "{closed:?}"
    );
    let error = within("the blocked writer", writing).await.unwrap();
    assert!(matches!(error, Error::Send(_)), "{error:?}");
}

#[tokio::test]
async fn reunite_takes_back_its_own_half_only() {
    let (ws_a, mut peer_a) = server_and_peer(Config::default()).await;
    let (ws_b, _peer_b) = server_and_peer(Config::default()).await;
    let (reader_a, writer_a) = ws_a.split();
    let (reader_b, writer_b) = ws_b.split();
    let (reader_a, writer_b) = match reader_a.reunite(writer_b) {
        Ok(_) => panic!("halves of two connections reunited"),
        Err(halves) => halves,
    };
    let (reader_b, writer_a) = match reader_b.reunite(writer_a) {
        Ok(_) => panic!("halves of two connections reunited"),
        Err(halves) => halves,
    };
    let mut ws_a = reader_a.reunite(writer_a).expect("its own half");
    let _ws_b = reader_b.reunite(writer_b).expect("its own half");

    // The reunited connection still works both ways.
    ws_a.send(Message::text("to peer")).await.unwrap();
    assert_eq!(
        within("peer", peer_a.message()).await,
        Message::text("to peer")
    );
    peer_a.conn.send_binary(&[1, 2, 3]).unwrap();
    peer_a.flush().await;
    let message = within("recv", ws_a.recv()).await.unwrap().unwrap();
    assert_eq!(message, Message::binary(vec![1, 2, 3]));
}
