//! A memory budget shared by the connections of a server
//! (`MemoryBudget`), over loopback TCP: a message that would take the
//! total past it ends its connection with 1013 before it is held, the
//! other connections go on (a message in progress finishes, a small one
//! is echoed), deflate bombs are stopped at the budget, and every byte
//! charged is given back.

mod common;
// The core's hand-made DEFLATE streams (a bomb).
#[allow(dead_code)]
#[path = "../../tests/common/deflate_bits.rs"]
mod deflate_bits;

use std::time::Duration;

use common::{Peer, echo_all, frame, listen, raw_client, within};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use wsproto::frame::{FrameHeader, MAX_HEADER_LEN, OpCode, apply_mask};
use wsproto::{CloseCode, Config, ConnectionError, ProtocolError};
use wsproto_tokio::{Acceptor, Error, MemoryBudget, Message, WebSocket};

const MASK: Option<[u8; 4]> = Some([0x37, 0xfa, 0x21, 0x3d]);

/// A server connection accepted by `acceptor` and our raw client on it.
async fn accept_pair(
    acceptor: &Acceptor,
    listener: &TcpListener,
    config: Config,
) -> (WebSocket<TcpStream>, Peer<TcpStream>) {
    let addr = listener.local_addr().unwrap();
    let peer = tokio::spawn(raw_client(addr, config));
    let (stream, _) = listener.accept().await.unwrap();
    let ws = within("accept", acceptor.accept(stream)).await.unwrap();
    (ws, within("raw handshake", peer).await.unwrap())
}

/// Echoes data messages until the connection ends; returns how many, or
/// the error that ended it.
fn spawn_echo(ws: WebSocket<TcpStream>) -> JoinHandle<Result<usize, Error>> {
    tokio::spawn(echo_all(ws))
}

/// Waits until `done` holds (checked every 5 ms).
async fn until(what: &str, done: impl Fn() -> bool) {
    within(what, async {
        while !done() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
}

fn over_allowance(ended: &Result<usize, Error>) -> Option<(u64, u64)> {
    match ended {
        Err(Error::Connection(ConnectionError::Protocol(
            ProtocolError::MessageOverAllowance { len, allowance },
        ))) => Some((*len, *allowance)),
        _ => None,
    }
}

/// A client's compressed frame (RSV1), masked.
fn compressed_frame(payload: &[u8]) -> Vec<u8> {
    let header = FrameHeader {
        fin: true,
        rsv: 0b100,
        opcode: OpCode::Binary,
        mask: MASK,
        payload_len: payload.len() as u64,
    };
    let mut head = [0u8; MAX_HEADER_LEN];
    let len = header.encode(&mut head);
    let mut out = head[..len].to_vec();
    out.extend_from_slice(payload);
    apply_mask(&mut out[len..], MASK.unwrap(), 0);
    out
}

#[tokio::test]
async fn a_message_over_the_shared_budget_is_closed_with_1013_and_the_others_go_on() {
    let budget = MemoryBudget::new(1 << 20);
    let acceptor = Acceptor::new().memory_budget(budget.clone());
    let (listener, _) = listen().await;
    let (a, mut a_peer) = accept_pair(&acceptor, &listener, Config::default()).await;
    let (b, mut b_peer) = accept_pair(&acceptor, &listener, Config::default()).await;
    let (c, mut c_peer) = accept_pair(&acceptor, &listener, Config::default()).await;
    let (a_task, b_task, c_task) = (spawn_echo(a), spawn_echo(b), spawn_echo(c));

    // A holds the first 600 KiB of a message.
    a_peer
        .write_raw(&frame(OpCode::Binary, false, &[1; 600 << 10], MASK))
        .await;
    until("A's fragment charged", || budget.used() == 600 << 10).await;

    // B announces 600 KiB more: over the 1 MiB, refused at its header.
    let announced = frame(OpCode::Binary, false, &[2; 600 << 10], MASK);
    b_peer.write_raw(&announced[..16 << 10]).await;
    let close = within("B's close", b_peer.close_then_eof()).await;
    assert_eq!(
        close.map(|frame| frame.code()),
        Some(CloseCode::TRY_AGAIN_LATER)
    );
    let ended = within("B's end", b_task).await.unwrap();
    let (len, allowance) = over_allowance(&ended).unwrap_or_else(|| panic!("{ended:?}"));
    assert_eq!((len, allowance), (600 << 10, (1 << 20) - (600 << 10)));

    // C is echoed meanwhile.
    c_peer.conn.send_text("still here").unwrap();
    c_peer.flush().await;
    assert_eq!(
        within("C's echo", c_peer.message()).await,
        Message::text("still here")
    );

    // A finishes its message: 700 KiB, within the budget once B is gone.
    a_peer
        .write_raw(&frame(OpCode::Continuation, true, &[3; 100 << 10], MASK))
        .await;
    let Message::Binary(echo) = within("A's echo", a_peer.message()).await else {
        panic!("A's echo is binary");
    };
    assert_eq!(echo.len(), 700 << 10);
    assert!(echo[..600 << 10].iter().all(|&b| b == 1) && echo[600 << 10..].iter().all(|&b| b == 3));
    until("every charge given back", || budget.used() == 0).await;

    for (peer, task) in [(a_peer, a_task), (c_peer, c_task)] {
        let mut peer = peer;
        peer.conn
            .close(std::time::Instant::now(), CloseCode::NORMAL, "")
            .unwrap();
        peer.flush().await;
        within("close", peer.close_then_eof()).await;
        assert_eq!(within("end", task).await.unwrap().unwrap(), 1);
    }
    assert_eq!(budget.used(), 0);
}

#[tokio::test]
async fn deflate_bombs_at_once_are_stopped_at_the_budget_and_a_good_client_goes_on() {
    const BOMBS: usize = 8;
    const BUDGET: u64 = 8 << 20;
    let mut config = Config::default();
    config.deflate.enabled = true;
    let budget = MemoryBudget::new(BUDGET);
    let acceptor = Acceptor::new()
        .config(config.clone())
        .memory_budget(budget.clone());
    let (listener, _) = listen().await;
    let (good, mut good_peer) = accept_pair(&acceptor, &listener, Config::default()).await;
    let good_task = spawn_echo(good);
    // Each inflates to 25.8 MB: under `max_message_len` (64 MiB), three
    // times the budget, from 13 KB on the wire.
    let bomb = compressed_frame(&deflate_bits::bomb(100_000));
    let mut bombs = Vec::new();
    for _ in 0..BOMBS {
        let (ws, peer) = accept_pair(&acceptor, &listener, config.clone()).await;
        bombs.push((spawn_echo(ws), peer));
    }
    let watch = {
        let budget = budget.clone();
        tokio::spawn(async move {
            let mut most = 0;
            for _ in 0..2000 {
                most = most.max(budget.used());
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
            most
        })
    };
    for (_, peer) in &mut bombs {
        peer.write_raw(&bomb).await;
    }
    for (i, (task, mut peer)) in bombs.into_iter().enumerate() {
        let close = within("a bomb's close", peer.close_then_eof()).await;
        assert_eq!(
            close.map(|frame| frame.code()),
            Some(CloseCode::TRY_AGAIN_LATER),
            "bomb {i}"
        );
        let ended = within("a bomb's end", task).await.unwrap();
        let (len, allowance) = over_allowance(&ended).unwrap_or_else(|| panic!("{ended:?}"));
        assert!(
            allowance <= BUDGET && len == allowance + 1,
            "bomb {i}: {ended:?}"
        );
        // The good client, between every two bombs.
        good_peer.conn.send_binary(&[i as u8; 100]).unwrap();
        good_peer.flush().await;
        assert_eq!(
            within("the good client's echo", good_peer.message()).await,
            Message::binary(vec![i as u8; 100])
        );
    }
    until("every charge given back", || budget.used() == 0).await;
    let most = watch.await.unwrap();
    assert!(
        most <= BUDGET + BOMBS as u64,
        "{most} bytes charged at once"
    );
    drop(good_peer);
    within("the good client's end", good_task)
        .await
        .unwrap()
        .ok();
}
