//! `wsproto_tokio::hyper`: a hyper 1 server on loopback upgraded by the
//! helper, driven by tokio-tungstenite (an independent implementation), by
//! our own client, and by raw bytes.

mod support;

use std::convert::Infallible;
use std::net::SocketAddr;

use futures_util::StreamExt;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use support::{
    Raw, header, masked_frame, request, status, tungstenite_connect, tungstenite_echo, within,
};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use wsproto_tokio::{ClientBuilder, CloseCode, Config, Error, Message};

/// The service under test: `/forbidden` is refused with 403 by the
/// application, `chat.v1` is chosen when offered, `/deflate` enables
/// permessage-deflate; everything else is an echo.
async fn serve(
    mut request: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let mut config = Config::default();
    config.deflate.enabled = request.uri().path() == "/deflate";
    let upgrade = wsproto_tokio::hyper::upgrade_with(&mut request, &config, support::choose);
    let (response, upgrading) = match upgrade {
        Ok(upgrade) => upgrade,
        Err(refusal) => return Ok(refusal.into_http()),
    };
    tokio::spawn(async move {
        let mut ws = upgrading.await.expect("hyper hands the connection over");
        while let Some(Ok(message)) = ws.recv().await {
            if message.is_data() && ws.send(message).await.is_err() {
                break;
            }
        }
    });
    Ok(response)
}

/// A hyper server with upgrades on 127.0.0.1:0, serving [`serve`].
async fn server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            tokio::spawn(
                http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service_fn(serve))
                    .with_upgrades(),
            );
        }
    });
    addr
}

#[tokio::test]
async fn tungstenite_client_echoes_through_the_upgrade() {
    within(async {
        let addr = server().await;
        let (mut ws, _) = tungstenite_connect(format!("ws://{addr}/echo")).await;
        tungstenite_echo(&mut ws, tungstenite::Message::text("over hyper")).await;
        let big = vec![0x5a; 300_000];
        tungstenite_echo(&mut ws, tungstenite::Message::binary(big)).await;
        ws.close(None).await.unwrap();
        // The server echoes the close and ends the stream.
        while let Some(message) = ws.next().await {
            if let tungstenite::Message::Close(_) = message.unwrap() {
                continue;
            }
            panic!("a message after the close");
        }
    })
    .await;
}

#[tokio::test]
async fn the_chosen_subprotocol_reaches_both_clients() {
    within(async {
        let addr = server().await;

        let (mut ws, accepted) = ClientBuilder::new(&format!("ws://{addr}/chat"))
            .protocol("chat.v2")
            .protocol("chat.v1")
            .connect()
            .await
            .unwrap();
        assert_eq!(accepted.protocol(), Some("chat.v1"));
        ws.send(Message::text("ours")).await.unwrap();
        assert_eq!(ws.recv().await.unwrap().unwrap().as_text(), Some("ours"));
        ws.close(CloseCode::NORMAL, "").await.unwrap();

        let mut request = format!("ws://{addr}/chat").into_client_request().unwrap();
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", "chat.v1".parse().unwrap());
        let (mut ws, response) = tungstenite_connect(request).await;
        assert_eq!(response.headers()["sec-websocket-protocol"], "chat.v1");
        tungstenite_echo(&mut ws, tungstenite::Message::text("theirs")).await;
    })
    .await;
}

#[tokio::test]
async fn a_refusal_from_the_application_keeps_its_status_and_body() {
    within(async {
        let addr = server().await;
        let refused = ClientBuilder::new(&format!("ws://{addr}/forbidden"))
            .connect()
            .await
            .unwrap_err();
        match refused {
            Error::Response(error) => assert_eq!(error.status(), Some(403)),
            other => panic!("expected a refused upgrade, got {other:?}"),
        }

        let mut raw = Raw::connect(addr).await;
        raw.send(&request("/forbidden", "")).await;
        let head = raw.head().await;
        assert_eq!(status(&head), 403, "{head}");
        assert_eq!(header(&head, "connection"), Some("close"));
        assert_eq!(raw.rest_until_close().await, b"not here");
    })
    .await;
}

#[tokio::test]
async fn invalid_upgrades_get_the_status_the_core_gives_them() {
    within(async {
        let addr = server().await;
        let cases: [(Vec<u8>, u16); 4] = [
            // Another protocol version: 426, naming the one we speak.
            (request("/echo", "Sec-WebSocket-Version: 8\r\n"), 426),
            // A key that is not 16 bytes in base64.
            (
                b"GET /echo HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                  Sec-WebSocket-Key: c2hvcnQ=\r\nSec-WebSocket-Version: 13\r\n\r\n"
                    .to_vec(),
                400,
            ),
            // Not an upgrade at all.
            (b"GET /echo HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(), 400),
            // Not GET.
            (
                b"POST /echo HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                  Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
                  Content-Length: 0\r\n\r\n"
                    .to_vec(),
                400,
            ),
        ];
        for (bytes, expected) in cases {
            let mut raw = Raw::connect(addr).await;
            raw.send(&bytes).await;
            let head = raw.head().await;
            assert_eq!(status(&head), expected, "{head}");
            if expected == 426 {
                assert_eq!(header(&head, "sec-websocket-version"), Some("13"));
            }
            assert!(header(&head, "sec-websocket-accept").is_none());
            // A reason in plain text, then the server closes.
            assert!(!raw.rest_until_close().await.is_empty());
        }
    })
    .await;
}

#[tokio::test]
async fn frames_pipelined_with_the_request_are_not_lost() {
    within(async {
        let addr = server().await;
        let mut raw = Raw::connect(addr).await;
        // One write: the request, a text frame and a close frame. hyper
        // reads them together, and must hand the frames over.
        let mut bytes = request("/echo", "");
        bytes.extend(masked_frame(0x1, b"sent before the 101"));
        bytes.extend(masked_frame(0x8, &1000u16.to_be_bytes()));
        raw.send(&bytes).await;

        let head = raw.head().await;
        assert_eq!(status(&head), 101, "{head}");
        assert_eq!(
            header(&head, "sec-websocket-accept"),
            Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        );
        let echo = raw.frame().await;
        assert_eq!(echo.opcode(), 0x1);
        assert_eq!(echo.payload, b"sent before the 101");
        let close = raw.frame().await;
        assert_eq!(close.opcode(), 0x8);
        assert_eq!(close.payload, 1000u16.to_be_bytes());
    })
    .await;
}

#[tokio::test]
async fn permessage_deflate_is_negotiated_when_the_config_enables_it() {
    within(async {
        let addr = server().await;
        let mut config = Config::default();
        config.deflate.enabled = true;

        // Enabled on `/deflate`: agreed, and messages round-trip.
        let (mut ws, accepted) = ClientBuilder::new(&format!("ws://{addr}/deflate"))
            .config(config.clone())
            .connect()
            .await
            .unwrap();
        assert!(
            accepted
                .extensions()
                .iter()
                .any(|e| e.name() == "permessage-deflate")
        );
        assert!(ws.connection().deflate().is_some());
        let text = "compressible ".repeat(5000);
        ws.send(Message::text(text.as_str())).await.unwrap();
        assert_eq!(ws.recv().await.unwrap().unwrap().as_text(), Some(&*text));
        ws.close(CloseCode::NORMAL, "").await.unwrap();

        // The default config elsewhere: declined.
        let (ws, accepted) = ClientBuilder::new(&format!("ws://{addr}/echo"))
            .config(config)
            .connect()
            .await
            .unwrap();
        assert!(accepted.extensions().is_empty());
        drop(ws);

        // On the wire: the server's echo of 1000 bytes is compressed
        // (RSV1) and much shorter.
        let mut raw = Raw::connect(addr).await;
        let mut bytes = request(
            "/deflate",
            "Sec-WebSocket-Extensions: permessage-deflate\r\n",
        );
        bytes.extend(masked_frame(0x1, &[b'a'; 1000]));
        raw.send(&bytes).await;
        let head = raw.head().await;
        assert_eq!(status(&head), 101, "{head}");
        assert!(
            header(&head, "sec-websocket-extensions")
                .is_some_and(|e| e.starts_with("permessage-deflate")),
            "{head}"
        );
        let echo = raw.frame().await;
        assert!(echo.compressed());
        assert!(echo.payload.len() < 100, "{} bytes", echo.payload.len());
    })
    .await;
}

#[tokio::test]
async fn without_upgrades_on_the_connection_the_future_fails() {
    within(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (report, outcome) = tokio::sync::oneshot::channel();
        let report = std::sync::Mutex::new(Some(report));
        let service = service_fn(move |mut request: hyper::Request<Incoming>| {
            let answer =
                wsproto_tokio::hyper::upgrade::<_, Full<Bytes>>(&mut request, &Config::default());
            let (response, upgrading) = answer.expect("a valid upgrade");
            let report = report.lock().unwrap().take().expect("one request");
            tokio::spawn(async move {
                let _ = report.send(upgrading.await.map(drop));
            });
            async { Ok::<_, Infallible>(response) }
        });
        tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            // No `with_upgrades()`: hyper keeps the connection.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
        let mut raw = Raw::connect(addr).await;
        raw.send(&request("/", "")).await;
        assert_eq!(status(&raw.head().await), 101);
        match outcome.await.unwrap() {
            Err(Error::Io(error)) => {
                assert!(error.get_ref().is_some_and(|e| e.is::<hyper::Error>()));
            }
            other => panic!("expected hyper's error, got {other:?}"),
        }
    })
    .await;
}
