//! The driver end to end over loopback TCP: our server, our client.

use wsproto_tokio::{CloseCode, Message};

#[tokio::test]
async fn a_client_and_a_server_exchange_messages_and_close() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut ws = wsproto_tokio::accept(stream).await.unwrap();
        let mut echoed = 0;
        while let Some(message) = ws.recv().await {
            let message = message.unwrap();
            if message.is_data() {
                ws.send(message).await.unwrap();
                echoed += 1;
            }
        }
        echoed
    });
    let mut ws = wsproto_tokio::connect(&format!("ws://{addr}/"))
        .await
        .unwrap();
    for text in ["one", "two", "three"] {
        ws.send(Message::text(text)).await.unwrap();
        let reply = ws.recv().await.unwrap().unwrap();
        assert_eq!(reply.as_text(), Some(text));
    }
    let big = vec![7u8; 1 << 20];
    ws.send(Message::binary(big.clone())).await.unwrap();
    assert_eq!(ws.recv().await.unwrap().unwrap(), Message::binary(big));
    ws.close(CloseCode::NORMAL, "bye").await.unwrap();
    assert_eq!(server.await.unwrap(), 4);
}
