//! The opening handshake over loopback TCP, at its edges: frames pipelined
//! behind the request (server side) or the 101 (client side) are not lost;
//! a refusal from `accept_with` reaches the client with its status; a
//! request that is not an upgrade gets 400; the subprotocol chosen in
//! `accept_with` is the one `Accepted::protocol` reports.

mod common;

use common::{frame, listen, within};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wsproto::frame::OpCode;
use wsproto::handshake::{Accept, ClientHandshake, ClientRequest, Response, ServerHandshake};
use wsproto::{Config, Connection, Role};
use wsproto_tokio::{ClientBuilder, Error, Message};

#[tokio::test]
async fn frames_in_the_same_write_as_the_request_are_not_lost() {
    let (listener, addr) = listen().await;
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut ws = wsproto_tokio::accept(stream).await.unwrap();
        let mut got = Vec::new();
        for _ in 0..3 {
            got.push(ws.recv().await.unwrap().unwrap());
        }
        got
    });
    let request = ClientRequest::new(&format!("ws://{addr}/")).unwrap();
    let mut handshake = ClientHandshake::new(&request, Config::default()).unwrap();
    // The request, a text frame, and a binary frame longer than the
    // server's first read: all in one write.
    let mut client = Connection::new(Role::Client, Config::default());
    client.send_text("pipelined").unwrap();
    client.send_binary(&[9u8; 10_000]).unwrap();
    client.send_text("after").unwrap();
    let mut wire = handshake.request_bytes().to_vec();
    client.poll_transmit(&mut wire);
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(&wire).await.unwrap();

    let mut buf = vec![0u8; 4096];
    let upgraded = loop {
        let n = within("the 101", stream.read(&mut buf)).await.unwrap();
        assert!(n > 0);
        if let Some(upgraded) = handshake.recv(&buf[..n]).unwrap() {
            break upgraded;
        }
    };
    assert_eq!(upgraded.response().status(), 101);
    let got = within("the server", server).await.unwrap();
    assert_eq!(
        got,
        [
            Message::text("pipelined"),
            Message::binary(vec![9u8; 10_000]),
            Message::text("after")
        ]
    );
}

#[tokio::test]
async fn frames_in_the_same_read_as_the_101_are_not_lost() {
    let (listener, addr) = listen().await;
    // A hand-written server: the 101 and its first frames in one write.
    let server = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let config = Config::default();
        let mut handshake = ServerHandshake::new(&config);
        let mut buf = vec![0u8; 4096];
        let request = loop {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0);
            if let Some(request) = handshake.recv(&buf[..n]).unwrap() {
                break request;
            }
        };
        let mut wire = request.accept(&Accept::new()).unwrap().to_bytes();
        wire.extend(frame(OpCode::Text, true, b"hello", None));
        wire.extend(frame(OpCode::Binary, false, &[1; 5000], None));
        wire.extend(frame(OpCode::Continuation, true, &[2; 5000], None));
        stream.write_all(&wire).await.unwrap();
        // Keep the transport open until the client is done.
        let mut rest = Vec::new();
        let _ = stream.read_to_end(&mut rest).await;
    });
    let (mut ws, accepted) = within(
        "connect",
        ClientBuilder::new(&format!("ws://{addr}/")).connect(),
    )
    .await
    .unwrap();
    assert_eq!(accepted.response().status(), 101);
    let first = within("first", ws.recv()).await.unwrap().unwrap();
    assert_eq!(first, Message::text("hello"));
    let second = within("second", ws.recv()).await.unwrap().unwrap();
    let mut expected = vec![1u8; 5000];
    expected.extend([2u8; 5000]);
    assert_eq!(second, Message::binary(expected));
    drop(ws);
    within("server", server).await.unwrap();
}

#[tokio::test]
async fn a_refusal_from_accept_with_reaches_the_client() {
    let (listener, addr) = listen().await;
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        wsproto_tokio::Acceptor::new()
            .accept_with(stream, |request| {
                assert_eq!(request.path(), "/private");
                Err(Response::new(403).unwrap())
            })
            .await
    });
    let outcome = within(
        "connect",
        ClientBuilder::new(&format!("ws://{addr}/private")).connect(),
    )
    .await;
    match outcome {
        Err(Error::Response(error)) => assert_eq!(error.status(), Some(403)),
        Err(other) => panic!("{other:?}"),
        Ok(_) => panic!("connected through a refusal"),
    }
    match within("server", server).await.unwrap() {
        Err(Error::Refused(status)) => assert_eq!(status, 403),
        Err(other) => panic!("{other:?}"),
        Ok(_) => panic!("accepted"),
    }
}

#[tokio::test]
async fn a_request_that_is_not_an_upgrade_gets_400() {
    let (listener, addr) = listen().await;
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        wsproto_tokio::accept(stream).await
    });
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    // The server ends its side after the answer.
    within("the answer", stream.read_to_end(&mut answer))
        .await
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    drop(stream);
    match within("server", server).await.unwrap() {
        Err(Error::Request(error)) => assert_eq!(error.status(), 400),
        Err(other) => panic!("{other:?}"),
        Ok(_) => panic!("accepted a plain GET"),
    }
}

#[tokio::test]
async fn the_subprotocol_chosen_in_accept_with_is_reported() {
    let (listener, addr) = listen().await;
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut ws = wsproto_tokio::Acceptor::new()
            .accept_with(stream, |request| {
                let offered: Vec<_> = request.protocols().collect();
                assert_eq!(offered, ["chat.v2", "chat.v1"]);
                Ok(Accept::new().protocol("chat.v1"))
            })
            .await
            .unwrap();
        let message = ws.recv().await.unwrap().unwrap();
        ws.send(message).await.unwrap();
        ws.recv().await.unwrap().unwrap()
    });
    let (mut ws, accepted) = within(
        "connect",
        ClientBuilder::new(&format!("ws://{addr}/chat"))
            .protocol("chat.v2")
            .protocol("chat.v1")
            .connect(),
    )
    .await
    .unwrap();
    assert_eq!(accepted.protocol(), Some("chat.v1"));
    ws.send(Message::text("hi")).await.unwrap();
    assert_eq!(
        within("echo", ws.recv()).await.unwrap().unwrap(),
        Message::text("hi")
    );
    within("close", ws.close(wsproto::CloseCode::NORMAL, ""))
        .await
        .unwrap();
    let close = within("server", server).await.unwrap();
    assert!(matches!(close, Message::Close(_)));
}

#[tokio::test]
async fn a_subprotocol_not_offered_is_answered_500() {
    let (listener, addr) = listen().await;
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        wsproto_tokio::Acceptor::new()
            .accept_with(stream, |_| Ok(Accept::new().protocol("never.offered")))
            .await
    });
    let outcome = within(
        "connect",
        ClientBuilder::new(&format!("ws://{addr}/"))
            .protocol("chat.v1")
            .connect(),
    )
    .await;
    match outcome {
        Err(Error::Response(error)) => assert_eq!(error.status(), Some(500)),
        Err(other) => panic!("{other:?}"),
        Ok(_) => panic!("connected"),
    }
    assert!(matches!(
        within("server", server).await.unwrap(),
        Err(Error::Build(_))
    ));
}
