//! Cancel safety over loopback TCP: `recv` dropped again and again (racing
//! a short timer, or after every poll) while frames arrive in odd pieces
//! hands out every message exactly once, in order; `send` / `feed` dropped
//! after one poll have queued their message (below the high-water mark:
//! over it, a send still waiting for room queues nothing, see
//! backpressure.rs); `close` dropped and called again still finishes.

mod common;

use std::time::Duration;

use common::{Peer, listen, listen_small, numbered, raw_client, raw_client_small, within};
use tokio::net::TcpStream;
use tokio::task::yield_now;
use wsproto::{CloseCode, Config, Connection, Control, Event, MessageKind, Role};
use wsproto_tokio::{Message, WebSocket};

/// Our server and a raw client; `small`: small kernel buffers, so writes
/// wait often.
async fn server_and_peer(small: bool) -> (WebSocket<TcpStream>, Peer<TcpStream>) {
    let (listener, addr) = if small {
        listen_small().await
    } else {
        listen().await
    };
    let peer = tokio::spawn(async move {
        if small {
            raw_client_small(addr, Config::default()).await
        } else {
            raw_client(addr, Config::default()).await
        }
    });
    let (stream, _) = listener.accept().await.unwrap();
    let ws = within("accept", wsproto_tokio::accept(stream))
        .await
        .unwrap();
    (ws, within("raw handshake", peer).await.unwrap())
}

/// A client's frames for `count` messages (pings and fragmented text among
/// them, characters split across fragments) and what `recv` should hand
/// out for them, in order.
fn script(count: usize) -> (Vec<u8>, Vec<Message>) {
    let mut conn = Connection::new(Role::Client, Config::default());
    let mut expected = Vec::new();
    for n in 0..count {
        match n % 10 {
            3 => {
                let payload = (n as u32).to_be_bytes();
                conn.send_ping(&payload).unwrap();
                expected.push(Message::Ping(payload.to_vec().into()));
            }
            6 => {
                let text = format!("{n:08}: é€𝄞 ").repeat(1 + n % 50);
                let bytes = text.as_bytes();
                // Cut inside characters: 1, 5, then the rest.
                let (one, rest) = bytes.split_at(11);
                let (two, three) = rest.split_at(5.min(rest.len()));
                conn.send_fragment(MessageKind::Text, one, false).unwrap();
                conn.send_ping(b"between").unwrap();
                conn.send_fragment(MessageKind::Text, two, false).unwrap();
                conn.send_fragment(MessageKind::Text, three, true).unwrap();
                expected.push(Message::Ping(b"between".to_vec().into()));
                expected.push(Message::text(text));
            }
            _ => {
                let message = numbered(n);
                match &message {
                    Message::Text(text) => conn.send_text(text).unwrap(),
                    Message::Binary(bytes) => conn.send_binary(bytes).unwrap(),
                    _ => unreachable!(),
                }
                expected.push(message);
            }
        }
    }
    let mut wire = Vec::new();
    conn.poll_transmit(&mut wire);
    (wire, expected)
}

/// Writes `wire` in pieces of odd sizes (single bytes among them), with a
/// pause now and then so the reader waits mid-frame.
async fn trickle(peer: &mut Peer<TcpStream>, wire: &[u8]) {
    const SIZES: [usize; 14] = [1, 1, 2, 3, 5, 13, 1, 89, 233, 1, 610, 1597, 4181, 10946];
    let mut at = 0;
    let mut i = 0;
    while at < wire.len() {
        let end = (at + SIZES[i % SIZES.len()]).min(wire.len());
        peer.write_raw(&wire[at..end]).await;
        at = end;
        i += 1;
        if i % 16 == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recv_raced_by_a_timer_loses_and_repeats_nothing() {
    let (mut ws, mut peer) = server_and_peer(false).await;
    let (wire, expected) = script(200);
    let writer = tokio::spawn(async move {
        trickle(&mut peer, &wire).await;
        peer
    });
    let mut got = Vec::new();
    let mut cancelled = 0;
    within("every message", async {
        while got.len() < expected.len() {
            tokio::select! {
                message = ws.recv() => got.push(message.unwrap().unwrap()),
                () = tokio::time::sleep(Duration::from_micros(500)) => cancelled += 1,
            }
        }
    })
    .await;
    assert!(got == expected, "messages lost, repeated or out of order");
    assert!(cancelled >= 20, "only {cancelled} recv futures dropped");
    within("the writer", writer).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recv_dropped_after_every_poll_loses_and_repeats_nothing() {
    let (mut ws, mut peer) = server_and_peer(false).await;
    let (wire, expected) = script(120);
    let writer = tokio::spawn(async move {
        trickle(&mut peer, &wire).await;
        // The pongs came back; then a clean close.
        peer.conn
            .close(std::time::Instant::now(), CloseCode::NORMAL, "")
            .unwrap();
        peer.flush().await;
        let mut pongs = 0;
        while let Ok(Some(event)) = peer.event().await {
            if let Event::Control(Control::Pong(_)) = event {
                pongs += 1;
            }
        }
        pongs
    });
    let mut got = Vec::new();
    let mut cancelled = 0u64;
    within("every message", async {
        loop {
            // `recv` first, then a yield that is ready on its second poll:
            // each `recv` future is polled at most twice, then dropped.
            tokio::select! {
                biased;
                message = ws.recv() => match message {
                    Some(message) => got.push(message.unwrap()),
                    None => break,
                },
                () = yield_now() => cancelled += 1,
            }
        }
    })
    .await;
    let close = got.pop();
    assert!(matches!(close, Some(Message::Close(_))), "{close:?}");
    assert!(got == expected, "messages lost, repeated or out of order");
    assert!(cancelled >= 100, "only {cancelled} recv futures dropped");
    let pongs = within("the writer", writer).await.unwrap();
    assert!(pongs >= 1, "the pings were answered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_and_feed_dropped_after_one_poll_have_queued_their_message() {
    let (mut ws, mut peer) = server_and_peer(true).await;
    const COUNT: usize = 1500;
    let reader = tokio::spawn(async move {
        for n in 0..COUNT {
            assert_eq!(peer.message().await, numbered(n), "once each, in order");
        }
        peer
    });
    let mut dropped = 0;
    within("sends", async {
        for n in 0..COUNT {
            // Polled (at most twice), then dropped if not done.
            tokio::select! {
                biased;
                sent = async {
                    if n % 3 == 0 {
                        ws.feed(numbered(n)).await
                    } else {
                        ws.send(numbered(n)).await
                    }
                } => sent.unwrap(),
                () = yield_now() => dropped += 1,
            }
        }
        // What the dropped sends had not written goes out with the next
        // flush.
        ws.flush().await.unwrap();
    })
    .await;
    let mut peer = within("the peer", reader).await.unwrap();
    assert!(
        dropped >= 100,
        "only {dropped} sends dropped before they finished"
    );
    // Nothing more (no repeat) follows.
    ws.send(Message::text("end")).await.unwrap();
    assert_eq!(within("end", peer.message()).await, Message::text("end"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_dropped_and_called_again_finishes() {
    let (mut ws, mut peer) = server_and_peer(false).await;
    let answering = tokio::spawn(async move {
        // Answers the close only after a while.
        let mut raw = [0u8; 2];
        tokio::io::AsyncReadExt::read_exact(&mut peer.io, &mut raw)
            .await
            .unwrap();
        assert_eq!(raw[0], 0x88);
        tokio::time::sleep(Duration::from_millis(100)).await;
        peer.conn
            .close(std::time::Instant::now(), CloseCode::NORMAL, "")
            .unwrap();
        peer.flush().await;
        peer
    });
    let mut tries = 0;
    let closed = within("close", async {
        loop {
            tokio::select! {
                closed = ws.close(CloseCode::NORMAL, "") => break closed,
                () = tokio::time::sleep(Duration::from_millis(1)) => tries += 1,
            }
        }
    })
    .await;
    closed.unwrap();
    assert!(tries >= 10, "only {tries} close futures dropped");
    assert!(ws.recv().await.is_none());
    within("peer", answering).await.unwrap();
}
