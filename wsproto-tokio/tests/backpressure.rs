//! Backpressure over loopback TCP: against a peer that stops reading,
//! `send` and `feed` wait while more than `Config::send_high_water` bytes
//! are queued, the queue stays within the mark plus one message, and
//! everything arrives in order once the peer reads again; `feed` many then
//! one `flush`; `recv` after the queue went over the mark.

mod common;

use std::time::Duration;

use common::{
    Peer, finishes_within, listen_sized, listen_small, numbered, raw_client_small, within,
};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use wsproto::Config;
use wsproto_tokio::{Message, WebSocket};

const MARK: usize = 64 << 10;
const MESSAGE: usize = 16 << 10;
/// Long enough, on a shared machine, that a send still pending after it is
/// stuck rather than slow.
const STUCK: Duration = Duration::from_millis(300);

/// Our server and a raw client, with small kernel buffers (or, with
/// `large_send`, a send buffer that takes a few hundred KiB at once).
async fn server_and_peer(
    config: Config,
    large_send: bool,
) -> (WebSocket<TcpStream>, Peer<TcpStream>) {
    let (listener, addr) = if large_send {
        listen_sized(4 << 20).await
    } else {
        listen_small().await
    };
    let peer = tokio::spawn(raw_client_small(addr, Config::default()));
    let (stream, _) = listener.accept().await.unwrap();
    stream.set_nodelay(true).unwrap();
    let acceptor = wsproto_tokio::Acceptor::new().config(config);
    let ws = within("accept", acceptor.accept(stream)).await.unwrap();
    (ws, within("raw handshake", peer).await.unwrap())
}

/// Message `n`: `MESSAGE` bytes, its number in the first eight.
fn message(n: u64) -> Message {
    let mut payload = vec![0x42u8; MESSAGE];
    payload[..8].copy_from_slice(&n.to_be_bytes());
    Message::binary(payload)
}

fn number(message: &Message) -> u64 {
    u64::from_be_bytes(message.as_bytes()[..8].try_into().unwrap())
}

#[tokio::test]
async fn a_peer_that_stops_reading_holds_send_and_feed_at_the_mark() {
    let mut config = Config::default();
    config.send_high_water = MARK;
    let (mut ws, mut peer) = server_and_peer(config, false).await;
    // The peer reads nothing until told to, then everything, in order.
    let (start_reading, go) = oneshot::channel::<u64>();
    let reading = tokio::spawn(async move {
        let last = go.await.unwrap();
        for n in 0..=last {
            let got = peer.message().await;
            assert_eq!(number(&got), n, "in order, once each");
            assert_eq!(got.as_bytes().len(), MESSAGE);
        }
    });

    // `send` completes until the kernel's buffers are full; then it stays
    // pending (its message is queued: it was polled once with room).
    let mut n = 0;
    loop {
        assert!(n < 10_000, "send never waited");
        match finishes_within(STUCK, ws.send(message(n))).await {
            Some(sent) => sent.unwrap(),
            None => break,
        }
        assert_eq!(ws.buffered_amount(), 0, "a finished send wrote everything");
        n += 1;
    }
    let stuck_at = n;
    let queued = ws.buffered_amount();
    assert!(queued > 0 && queued <= MESSAGE + 14, "{queued} queued");
    n += 1;

    // `feed` queues without writing while at most the mark is queued, then
    // waits; a feed dropped while waiting queued nothing.
    loop {
        let before = ws.buffered_amount();
        assert!(
            before <= MARK + MESSAGE + 14,
            "{before} queued: over the bound"
        );
        match finishes_within(STUCK, ws.feed(message(n))).await {
            Some(fed) => fed.unwrap(),
            None => {
                assert!(before > MARK, "waited only over the mark ({before})");
                assert_eq!(ws.buffered_amount(), before, "nothing queued");
                break;
            }
        }
        n += 1;
    }
    assert!(n > stuck_at + 2, "a few fed before the mark");
    // Still stuck: the peer reads nothing.
    assert!(finishes_within(STUCK, ws.flush()).await.is_none());
    assert!(ws.buffered_amount() <= MARK + MESSAGE + 14);

    // The peer reads again: the waiting feed, then more sends, go through.
    let last = n + 20;
    start_reading.send(last).unwrap();
    within("feed after the peer reads", ws.feed(message(n)))
        .await
        .unwrap();
    for n in n + 1..=last {
        within("send after the peer reads", ws.send(message(n)))
            .await
            .unwrap();
    }
    within("the peer's reads", reading).await.unwrap();
    assert_eq!(ws.buffered_amount(), 0);
}

#[tokio::test]
async fn feed_many_then_one_flush_delivers_all_in_order() {
    let (mut ws, mut peer) = server_and_peer(Config::default(), false).await;
    const COUNT: usize = 2000;
    let reading = tokio::spawn(async move {
        for n in 0..COUNT {
            assert_eq!(peer.message().await, numbered(n));
        }
        peer
    });
    for n in 0..COUNT {
        // Under the default mark (16 MiB), feed writes nothing.
        within("feed", ws.feed(numbered(n))).await.unwrap();
    }
    assert!(ws.buffered_amount() > 0, "fed, not written");
    within("flush", ws.flush()).await.unwrap();
    assert_eq!(ws.buffered_amount(), 0);
    within("the peer's reads", reading).await.unwrap();
}

/// Messages already read (in the read buffer, not yet decoded) when the
/// queue went over the mark come out once the queue is written, without
/// waiting for the peer to send more.
#[tokio::test]
async fn recv_hands_out_what_was_read_once_the_queue_is_written() {
    let mut config = Config::default();
    config.send_high_water = MARK;
    // The send buffer takes the whole queue in one write, which is when
    // the queue goes from over the mark to empty within one poll.
    let (mut ws, mut peer) = server_and_peer(config, true).await;
    // Two messages in one write: one read takes both.
    peer.conn.send_text("first").unwrap();
    peer.conn.send_text("second").unwrap();
    peer.flush().await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let first = within("first", ws.recv()).await.unwrap().unwrap();
    assert_eq!(first, Message::text("first"));

    // Over the mark, with "second" still undecoded in the read buffer.
    within("feed", ws.feed(Message::binary(vec![7u8; 4 * MARK])))
        .await
        .unwrap();
    assert!(ws.buffered_amount() > MARK);
    let reading = tokio::spawn(async move {
        let big = peer.message().await;
        assert_eq!(big.as_bytes().len(), 4 * MARK);
        peer
    });
    // The peer reads (so the queue drains) but sends nothing more.
    let second = within("second", ws.recv()).await.unwrap().unwrap();
    assert_eq!(second, Message::text("second"));
    within("flush", ws.flush()).await.unwrap();
    within("the peer's read", reading).await.unwrap();
}
