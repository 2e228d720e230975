//! `wsproto_tokio::axum::WebSocketUpgrade`: an axum router served by
//! `axum::serve` on loopback, driven by tokio-tungstenite (an independent
//! implementation), by our own client, and by raw bytes; and the extractor
//! called directly on request parts.

mod support;

use std::net::SocketAddr;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::StreamExt;
use support::{
    Raw, header, masked_frame, request, status, tungstenite_connect, tungstenite_echo, within,
};
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use wsproto_tokio::axum::{UpgradeError, WebSocket, WebSocketUpgrade};
use wsproto_tokio::{ClientBuilder, CloseCode, Config, Message};

/// Sends every data message back until the connection ends.
async fn echo_messages(mut ws: WebSocket) {
    while let Some(Ok(message)) = ws.recv().await {
        if message.is_data() && ws.send(message).await.is_err() {
            break;
        }
    }
}

async fn echo(ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(echo_messages)
}

/// Chooses among two subprotocols and says first what it saw.
async fn chat(ws: WebSocketUpgrade) -> Response {
    let ws = ws.protocols(["chat.v2", "chat.v1"]);
    let report = format!(
        "offered={} selected={}",
        ws.offered_protocols().collect::<Vec<_>>().join(","),
        ws.selected_protocol().unwrap_or("-"),
    );
    ws.on_upgrade(|mut ws| async move {
        if ws.send(Message::text(report)).await.is_ok() {
            echo_messages(ws).await;
        }
    })
}

async fn deflate(ws: WebSocketUpgrade) -> Response {
    let mut config = Config::default();
    config.deflate.enabled = true;
    ws.config(config).on_upgrade(echo_messages)
}

/// A page for plain requests, a WebSocket for upgrades.
async fn page_or_socket(ws: Result<WebSocketUpgrade, UpgradeError>) -> Response {
    match ws {
        Ok(ws) => ws.on_upgrade(echo_messages),
        Err(_) => "a page".into_response(),
    }
}

/// The router on 127.0.0.1:0 under `axum::serve`.
async fn server() -> SocketAddr {
    let app = Router::new()
        .route("/echo", get(echo))
        .route("/chat", get(chat))
        .route("/deflate", get(deflate))
        .route("/page", get(page_or_socket));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

#[tokio::test]
async fn both_clients_echo_through_the_extractor() {
    within(async {
        let addr = server().await;

        let (mut ws, _) = tungstenite_connect(format!("ws://{addr}/echo")).await;
        for n in 0..3 {
            let text = format!("tungstenite {n}");
            tungstenite_echo(&mut ws, tungstenite::Message::text(text)).await;
        }
        ws.close(None).await.unwrap();

        let mut ws = wsproto_tokio::connect(&format!("ws://{addr}/echo"))
            .await
            .unwrap();
        let big = vec![0xa5; 200_000];
        ws.send(Message::binary(big.clone())).await.unwrap();
        assert_eq!(ws.recv().await.unwrap().unwrap(), Message::binary(big));
        ws.close(CloseCode::NORMAL, "done").await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn protocols_picks_the_first_one_the_client_offered() {
    within(async {
        let addr = server().await;
        let url = format!("ws://{addr}/chat");

        // The client prefers chat.v1; the server lists chat.v2 first.
        let (mut ws, accepted) = ClientBuilder::new(&url)
            .protocol("chat.v1")
            .protocol("chat.v2")
            .connect()
            .await
            .unwrap();
        assert_eq!(accepted.protocol(), Some("chat.v1"));
        let report = ws.recv().await.unwrap().unwrap();
        assert_eq!(
            report.as_text(),
            Some("offered=chat.v1,chat.v2 selected=chat.v1")
        );

        // Nothing in common: no subprotocol, and the upgrade goes on.
        let (mut ws, accepted) = ClientBuilder::new(&url)
            .protocol("other")
            .connect()
            .await
            .unwrap();
        assert_eq!(accepted.protocol(), None);
        let report = ws.recv().await.unwrap().unwrap();
        assert_eq!(report.as_text(), Some("offered=other selected=-"));

        let mut request = url.as_str().into_client_request().unwrap();
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            "chat.v3, chat.v2".parse().unwrap(),
        );
        let (mut ws, response) = tungstenite_connect(request).await;
        assert_eq!(response.headers()["sec-websocket-protocol"], "chat.v2");
        let report = ws.next().await.unwrap().unwrap();
        assert_eq!(
            report,
            tungstenite::Message::text("offered=chat.v3,chat.v2 selected=chat.v2")
        );
    })
    .await;
}

#[tokio::test]
async fn rejections_carry_the_status_the_core_gives_them() {
    within(async {
        let addr = server().await;
        let cases: [(Vec<u8>, u16); 3] = [
            (request("/echo", "Sec-WebSocket-Version: 8\r\n"), 426),
            (
                b"GET /echo HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                  Sec-WebSocket-Version: 13\r\n\r\n"
                    .to_vec(),
                400,
            ),
            (b"GET /echo HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(), 400),
        ];
        for (bytes, expected) in cases {
            let mut raw = Raw::connect(addr).await;
            raw.send(&bytes).await;
            let head = raw.head().await;
            assert_eq!(status(&head), expected, "{head}");
            if expected == 426 {
                assert_eq!(header(&head, "sec-websocket-version"), Some("13"));
            }
            assert_eq!(header(&head, "connection"), Some("close"));
            let body = String::from_utf8(raw.rest_until_close().await).unwrap();
            assert!(!body.is_empty());
        }

        // Taking the rejection as a `Result` serves plain requests too.
        let mut raw = Raw::connect(addr).await;
        raw.send(b"GET /page HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            .await;
        assert_eq!(status(&raw.head().await), 200);
        assert_eq!(raw.rest_until_close().await, b"a page");
        let (mut ws, _) = tungstenite_connect(format!("ws://{addr}/page")).await;
        tungstenite_echo(&mut ws, tungstenite::Message::text("upgraded")).await;
    })
    .await;
}

#[tokio::test]
async fn the_extractor_refuses_parts_it_cannot_upgrade() {
    let upgrade = http::Request::get("/echo")
        .header("Host", "a")
        .header("Upgrade", "websocket")
        .header("Connection", "Upgrade")
        .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
        .header("Sec-WebSocket-Version", "13");

    // Valid, but not from hyper: no upgrade handle in the extensions.
    let (mut parts, ()) = upgrade.body(()).unwrap().into_parts();
    let refusal = WebSocketUpgrade::from_request_parts(&mut parts, &())
        .await
        .unwrap_err();
    assert!(matches!(refusal, UpgradeError::NotUpgradable));
    assert_eq!(refusal.into_response().status(), 500);
    // The parts went back where they were.
    assert_eq!(parts.uri, "/echo");
    assert_eq!(parts.headers["sec-websocket-version"], "13");

    // Invalid: the core's error and status.
    let (mut parts, ()) = http::Request::post("/echo").body(()).unwrap().into_parts();
    let refusal = WebSocketUpgrade::from_request_parts(&mut parts, &())
        .await
        .unwrap_err();
    assert!(matches!(
        refusal,
        UpgradeError::Request(wsproto::handshake::RequestError::WrongMethod)
    ));
    assert_eq!(refusal.into_response().status(), 400);
}

#[tokio::test]
async fn frames_pipelined_with_the_request_are_not_lost() {
    within(async {
        let addr = server().await;
        let mut raw = Raw::connect(addr).await;
        let mut bytes = request("/echo", "");
        bytes.extend(masked_frame(0x2, &[1, 2, 3, 4, 5]));
        bytes.extend(masked_frame(0x1, b"and a second one"));
        raw.send(&bytes).await;

        let head = raw.head().await;
        assert_eq!(status(&head), 101, "{head}");
        let first = raw.frame().await;
        assert_eq!((first.opcode(), first.payload), (0x2, vec![1, 2, 3, 4, 5]));
        let second = raw.frame().await;
        assert_eq!(
            (second.opcode(), second.payload),
            (0x1, b"and a second one".to_vec())
        );
    })
    .await;
}

#[tokio::test]
async fn permessage_deflate_follows_the_handlers_config() {
    within(async {
        let addr = server().await;
        let mut config = Config::default();
        config.deflate.enabled = true;
        for (path, negotiated) in [("/deflate", true), ("/echo", false)] {
            let (mut ws, accepted) = ClientBuilder::new(&format!("ws://{addr}{path}"))
                .config(config.clone())
                .connect()
                .await
                .unwrap();
            let agreed = accepted
                .extensions()
                .iter()
                .any(|e| e.name() == "permessage-deflate");
            assert_eq!(agreed, negotiated, "{path}");
            assert_eq!(ws.connection().deflate().is_some(), negotiated, "{path}");
            let text = "squeeze me ".repeat(3000);
            ws.send(Message::text(text.as_str())).await.unwrap();
            assert_eq!(ws.recv().await.unwrap().unwrap().as_text(), Some(&*text));
            ws.close(CloseCode::NORMAL, "").await.unwrap();
        }

        // On the wire: the echo is compressed.
        let mut raw = Raw::connect(addr).await;
        let mut bytes = request(
            "/deflate",
            "Sec-WebSocket-Extensions: permessage-deflate\r\n",
        );
        bytes.extend(masked_frame(0x1, &[b'z'; 2000]));
        raw.send(&bytes).await;
        assert_eq!(status(&raw.head().await), 101);
        let echo = raw.frame().await;
        assert!(echo.compressed());
        assert!(echo.payload.len() < 100, "{} bytes", echo.payload.len());
    })
    .await;
}

/// With the `h2` feature: the same router, served by `axum::serve` (which
/// advertises SETTINGS_ENABLE_CONNECT_PROTOCOL on HTTP/2), takes
/// WebSockets over HTTP/2 (cleartext, prior knowledge) through the same
/// extractor; the route must accept `CONNECT` (`any`), and the subprotocol
/// and permessage-deflate are chosen as over HTTP/1.1.
#[cfg(feature = "h2")]
#[tokio::test]
async fn the_extractor_takes_websockets_over_http2() {
    use axum::routing::any;
    use http_body_util::Empty;
    use hyper::body::Bytes;
    use hyper_util::rt::{TokioExecutor, TokioIo};

    within(async {
        let app = Router::new()
            .route("/chat", any(chat))
            .route("/deflate", any(deflate));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (send, connection) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
            .handshake::<_, Empty<Bytes>>(TokioIo::new(tcp))
            .await
            .unwrap();
        tokio::spawn(connection);

        let (mut chat, accepted) = ClientBuilder::new(&format!("ws://{addr}/chat"))
            .protocol("chat.v1")
            .connect_h2(&mut send.clone())
            .await
            .unwrap();
        assert_eq!(accepted.response().status(), 200);
        assert_eq!(accepted.protocol(), Some("chat.v1"));
        let report = chat.recv().await.unwrap().unwrap();
        assert_eq!(report, Message::text("offered=chat.v1 selected=chat.v1"));

        let mut config = Config::default();
        config.deflate.enabled = true;
        let (mut deflated, accepted) = ClientBuilder::new(&format!("ws://{addr}/deflate"))
            .config(config)
            .connect_h2(&mut send.clone())
            .await
            .unwrap();
        assert_eq!(accepted.extensions()[0].name(), "permessage-deflate");
        for ws in [&mut chat, &mut deflated] {
            let text = Message::text("the same words, the same words, the same words");
            ws.send(text.clone()).await.unwrap();
            assert_eq!(ws.recv().await.unwrap().unwrap(), text);
        }
        for mut ws in [chat, deflated] {
            ws.close(CloseCode::NORMAL, "").await.unwrap();
        }
    })
    .await;
}
