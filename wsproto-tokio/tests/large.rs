//! Large and many messages through our client and our echo server over
//! loopback TCP: a 4 MiB binary message, 1 MiB of mixed 1-4 byte UTF-8
//! text (also compressed with permessage-deflate), and 10 000 small
//! messages pipelined from a split client, all round trips exact and in
//! order.

mod common;

use common::{pair_with, within};
use tokio::task::JoinHandle;
use wsproto::{CloseCode, Config};
use wsproto_tokio::{ClientStream, Message, WebSocket};

/// Our client, connected to our server, which echoes every data message
/// and returns how many it echoed.
async fn client_and_echo(config: Config) -> (WebSocket<ClientStream>, JoinHandle<usize>) {
    let (mut server, client) = pair_with(config.clone(), config).await;
    let echo = tokio::spawn(async move {
        let mut echoed = 0;
        while let Some(message) = server.recv().await {
            let message = message.unwrap();
            if message.is_data() {
                server.send(message).await.unwrap();
                echoed += 1;
            }
        }
        echoed
    });
    (client, echo)
}

/// Bytes that are not all alike (a wrong offset shows).
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

/// At least `len` bytes of text mixing 1, 2, 3 and 4-byte characters.
fn mixed_text(len: usize) -> String {
    let pieces = ["a", "é", "€", "𝄞", "z0", "ü", "中文", "🦀"];
    let mut text = String::with_capacity(len + 8);
    let mut i = 0;
    while text.len() < len {
        text.push_str(pieces[i % pieces.len()]);
        i += 1;
    }
    text
}

async fn round_trip(config: Config, messages: Vec<Message>) {
    #[cfg(feature = "deflate")]
    let compressed = config.deflate.enabled;
    let (mut ws, echo) = client_and_echo(config).await;
    #[cfg(feature = "deflate")]
    assert_eq!(ws.connection().deflate().is_some(), compressed);
    for message in &messages {
        within("send", ws.send(message.clone())).await.unwrap();
        let back = within("echo", ws.recv()).await.unwrap().unwrap();
        assert!(back == *message, "the echo differs");
    }
    within("close", ws.close(CloseCode::NORMAL, ""))
        .await
        .unwrap();
    assert_eq!(within("server", echo).await.unwrap(), messages.len());
}

#[tokio::test]
async fn a_4_mib_binary_message_round_trips() {
    round_trip(Config::default(), vec![Message::binary(pattern(4 << 20))]).await;
}

#[tokio::test]
async fn a_1_mib_mixed_utf8_text_round_trips() {
    let text = mixed_text(1 << 20);
    assert!(text.chars().any(|c| c.len_utf8() == 4));
    round_trip(Config::default(), vec![Message::text(text)]).await;
}

#[cfg(feature = "deflate")]
#[tokio::test]
async fn large_messages_round_trip_compressed() {
    let mut config = Config::default();
    config.deflate.enabled = true;
    round_trip(
        config,
        vec![
            Message::text(mixed_text(1 << 20)),
            Message::binary(pattern(4 << 20)),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_small_messages_pipelined_arrive_in_order() {
    const COUNT: usize = 10_000;
    let (ws, echo) = client_and_echo(Config::default()).await;
    let (mut reader, mut writer) = ws.split();
    let writing = tokio::spawn(async move {
        for n in 0..COUNT {
            let message = if n % 2 == 0 {
                Message::text(format!("message {n}"))
            } else {
                Message::binary((n as u32).to_be_bytes().to_vec())
            };
            writer.feed(message).await.unwrap();
        }
        writer.flush().await.unwrap();
        writer
    });
    within("the echoes", async {
        for n in 0..COUNT {
            let message = reader.recv().await.unwrap().unwrap();
            if n % 2 == 0 {
                assert_eq!(message.as_text(), Some(format!("message {n}").as_str()));
            } else {
                assert_eq!(message.as_bytes(), (n as u32).to_be_bytes());
            }
        }
    })
    .await;
    let mut writer = within("the writer", writing).await.unwrap();
    within("close", writer.close(CloseCode::NORMAL, ""))
        .await
        .unwrap();
    let close = within("the echo server's close", reader.recv()).await;
    assert!(matches!(close, Some(Ok(Message::Close(_)))), "{close:?}");
    assert!(within("end", reader.recv()).await.is_none());
    assert_eq!(within("server", echo).await.unwrap(), COUNT);
}
