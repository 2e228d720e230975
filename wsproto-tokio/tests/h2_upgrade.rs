//! WebSocket over HTTP/2 (RFC 8441) through `wsproto_tokio::hyper`: a hyper
//! 1 server speaking HTTP/2 in cleartext (prior knowledge, h2c) with
//! `enable_connect_protocol()`, upgraded by the helper, with small flow
//! control windows. Its clients: hyper's HTTP/2 client with
//! tokio-tungstenite framing the WebSocket (an implementation independent
//! of ours), and the `h2` crate driven frame by frame for what a library
//! client would not do (refused requests, a reset stream, reading
//! END_STREAM).

mod support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use http_body_util::{Empty, Full};
use hyper::body::Incoming;
use hyper::server::conn::http2;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use support::{extended_connect, mebibyte, within};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::{self, protocol::Role as TungsteniteRole};
use wsproto::{Config, Connection, Control, Event, Role};
use wsproto_tokio::{ClientBuilder, CloseCode, Error, Message};

/// The server's HTTP/2 stream and connection windows: far below the
/// messages, so that 1 MiB crosses many WINDOW_UPDATEs both ways.
const WINDOW: u32 = 16 * 1024;

/// How a WebSocket the server accepted ended: `None` after a clean
/// closing handshake, or the error.
type Ending = Option<String>;

/// How a session ends when its stream ends without a closing handshake.
fn unexpected_eof() -> Ending {
    Some(Error::Connection(wsproto::ConnectionError::UnexpectedEof).to_string())
}

/// A hyper HTTP/2 server on 127.0.0.1:0 whose every WebSocket echoes data
/// messages; each session's ending goes to the returned channel, and the
/// count of TCP connections accepted is kept.
async fn server() -> (
    SocketAddr,
    mpsc::UnboundedReceiver<Ending>,
    Arc<AtomicUsize>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (endings, ended) = mpsc::unbounded_channel();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&accepted);
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            counted.fetch_add(1, Ordering::Relaxed);
            let endings = endings.clone();
            let service = service_fn(move |request| serve(request, endings.clone()));
            let mut builder = http2::Builder::new(TokioExecutor::new());
            builder
                .enable_connect_protocol()
                .initial_stream_window_size(WINDOW)
                .initial_connection_window_size(WINDOW);
            tokio::spawn(async move {
                let _ = builder.serve_connection(TokioIo::new(tcp), service).await;
            });
        }
    });
    (addr, ended, accepted)
}

/// Upgrades an extended CONNECT (permessage-deflate and `chat.v1` when
/// offered; `/forbidden` is refused with 403 by the application) and
/// echoes its data messages in a task of its own; anything else gets the
/// helper's refusal.
async fn serve(
    mut request: hyper::Request<Incoming>,
    endings: mpsc::UnboundedSender<Ending>,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let mut config = Config::default();
    config.deflate.enabled = true;
    let upgrade = wsproto_tokio::hyper::upgrade_with(&mut request, &config, support::choose);
    let (response, upgrading) = match upgrade {
        Ok(upgrade) => upgrade,
        Err(refusal) => return Ok(refusal.into_http()),
    };
    tokio::spawn(async move {
        let mut ws = upgrading.await.expect("hyper hands the stream over");
        let ending = loop {
            match ws.recv().await {
                Some(Ok(message)) if message.is_data() => {
                    if let Err(error) = ws.send(message).await {
                        break Some(error.to_string());
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(error)) => break Some(error.to_string()),
                None => break None,
            }
        };
        let _ = endings.send(ending);
    });
    Ok(response)
}

/// hyper's HTTP/2 client on one TCP connection to `addr`.
async fn hyper_client(addr: SocketAddr) -> hyper::client::conn::http2::SendRequest<Empty<Bytes>> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (send, connection) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .initial_stream_window_size(WINDOW)
        .handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(connection);
    send
}

type Tungstenite = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

/// Opens a WebSocket on a new stream of `send`'s connection: an extended
/// CONNECT, a 200, then tokio-tungstenite framing over the stream.
async fn open(
    send: &mut hyper::client::conn::http2::SendRequest<Empty<Bytes>>,
    addr: SocketAddr,
) -> Tungstenite {
    let request = extended_connect(&format!("http://{addr}/echo"), "13");
    let response = send.send_request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    // RFC 8441: no accept key, and no HTTP/1.1 upgrade fields.
    for name in ["sec-websocket-accept", "upgrade", "connection"] {
        assert!(!response.headers().contains_key(name), "{name}");
    }
    let upgraded = hyper::upgrade::on(response).await.unwrap();
    WebSocketStream::from_raw_socket(TokioIo::new(upgraded), TungsteniteRole::Client, None).await
}

async fn echo(ws: &mut Tungstenite, message: tungstenite::Message) {
    ws.send(message.clone()).await.unwrap();
    let reply = ws.next().await.unwrap().unwrap();
    assert_eq!(reply, message);
}

#[tokio::test]
async fn tungstenite_over_hyper_h2_echoes_up_to_a_mebibyte_with_small_windows() {
    within(async {
        let (addr, mut ended, _) = server().await;
        let mut send = hyper_client(addr).await;
        let mut ws = open(&mut send, addr).await;
        echo(&mut ws, tungstenite::Message::text("")).await;
        echo(&mut ws, tungstenite::Message::text("héllo over h2")).await;
        echo(&mut ws, tungstenite::Message::binary(mebibyte())).await;
        // A ping is answered by the connection itself.
        ws.send(tungstenite::Message::Ping(Bytes::from_static(b"hb")))
            .await
            .unwrap();
        let pong = ws.next().await.unwrap().unwrap();
        assert_eq!(pong, tungstenite::Message::Pong(Bytes::from_static(b"hb")));
        // The closing handshake; the server's session ends cleanly.
        ws.close(None).await.unwrap();
        while let Some(Ok(_)) = ws.next().await {}
        assert_eq!(ended.recv().await.unwrap(), None);
    })
    .await;
}

#[tokio::test]
async fn many_websockets_share_one_http2_connection() {
    within(async {
        let (addr, mut ended, accepted) = server().await;
        let send = hyper_client(addr).await;
        let sessions = (0..20).map(|stream| {
            let mut send = send.clone();
            tokio::spawn(async move {
                let mut ws = open(&mut send, addr).await;
                for round in 0..10 {
                    let text = format!("stream {stream} round {round}");
                    echo(&mut ws, tungstenite::Message::text(text)).await;
                    let bytes = vec![stream as u8; 20_000 + round];
                    echo(&mut ws, tungstenite::Message::binary(bytes)).await;
                }
                ws.close(None).await.unwrap();
                while let Some(Ok(_)) = ws.next().await {}
            })
        });
        for session in sessions.collect::<Vec<_>>() {
            session.await.unwrap();
        }
        for _ in 0..20 {
            assert_eq!(ended.recv().await.unwrap(), None);
        }
        assert_eq!(accepted.load(Ordering::Relaxed), 1);
    })
    .await;
}

/// The `h2` crate's client, driven by hand, on one TCP connection.
async fn h2_client(addr: SocketAddr) -> h2::client::SendRequest<Bytes> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (send, connection) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(async move {
        let _ = connection.await;
    });
    send.ready().await.unwrap()
}

/// A CONNECT for `/echo` with `:protocol` if given, and `fields`.
fn connect(addr: SocketAddr, protocol: Option<&str>, fields: &[(&str, &str)]) -> http::Request<()> {
    let mut request = http::Request::connect(format!("http://{addr}/echo"));
    for (name, value) in fields {
        request = request.header(*name, *value);
    }
    let mut request = request.body(()).unwrap();
    if let Some(protocol) = protocol {
        request
            .extensions_mut()
            .insert(h2::ext::Protocol::from(protocol));
    }
    request
}

/// One WebSocket stream driven through the `h2` crate: the core's client
/// connection frames and reads the messages.
struct RawStream {
    send: h2::SendStream<Bytes>,
    recv: h2::RecvStream,
    conn: Connection,
    buf: BytesMut,
}

impl RawStream {
    /// Sends an extended CONNECT for `websocket`; expects the 200.
    async fn open(client: &mut h2::client::SendRequest<Bytes>, addr: SocketAddr) -> RawStream {
        let request = connect(addr, Some("websocket"), &[("sec-websocket-version", "13")]);
        let (response, send) = client.send_request(request, false).unwrap();
        let response = response.await.unwrap();
        assert_eq!(response.status(), 200);
        RawStream {
            send,
            recv: response.into_body(),
            conn: Connection::new(Role::Client, Config::default()),
            buf: BytesMut::new(),
        }
    }

    /// Writes what the connection queued as one DATA frame.
    fn flush(&mut self) {
        let mut wire = Vec::new();
        self.conn.poll_transmit(&mut wire);
        self.send.send_data(wire.into(), false).unwrap();
    }

    /// The next event, reading DATA frames as needed; `None` at
    /// END_STREAM.
    async fn event(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.conn.poll_event_from(&mut self.buf).unwrap() {
                return Some(event);
            }
            let data = self.recv.data().await?.unwrap();
            self.recv
                .flow_control()
                .release_capacity(data.len())
                .unwrap();
            self.buf.extend_from_slice(&data);
        }
    }

    async fn echo_text(&mut self, text: &str) {
        self.conn.send_text(text).unwrap();
        self.flush();
        assert_eq!(self.event().await, Some(Event::Text(text.into())));
    }
}

#[tokio::test]
async fn the_server_ends_the_stream_after_the_closing_handshake() {
    within(async {
        let (addr, mut ended, _) = server().await;
        let mut client = h2_client(addr).await;
        let mut stream = RawStream::open(&mut client, addr).await;
        // The server advertised SETTINGS_ENABLE_CONNECT_PROTOCOL.
        assert!(client.is_extended_connect_protocol_enabled());
        stream.echo_text("before the close").await;
        let now = std::time::Instant::now();
        stream
            .conn
            .close(now, wsproto::CloseCode::NORMAL, "bye")
            .unwrap();
        stream.flush();
        let Some(Event::Control(Control::Close(frame))) = stream.event().await else {
            panic!("no close echo");
        };
        assert_eq!(frame.code(), wsproto::CloseCode::NORMAL);
        // Then END_STREAM: the server's half of the stream is over.
        assert_eq!(stream.event().await, None);
        assert!(stream.recv.is_end_stream());
        assert_eq!(ended.recv().await.unwrap(), None);
    })
    .await;
}

#[tokio::test]
async fn other_protocols_versions_and_methods_get_no_2xx() {
    within(async {
        let (addr, _, _) = server().await;
        let mut client = h2_client(addr).await;
        let version = [("sec-websocket-version", "13")];
        let cases: [(http::Request<()>, u16); 4] = [
            // Another `:protocol`.
            (connect(addr, Some("webtransport"), &version), 400),
            // Another WebSocket version: 426 names ours.
            (
                connect(addr, Some("websocket"), &[("sec-websocket-version", "8")]),
                426,
            ),
            // No version at all.
            (connect(addr, Some("websocket"), &[]), 426),
            // A GET over HTTP/2 is no WebSocket request.
            (
                http::Request::get(format!("http://{addr}/echo"))
                    .header("sec-websocket-version", "13")
                    .body(())
                    .unwrap(),
                400,
            ),
        ];
        for (request, expected) in cases {
            let (response, _) = client.send_request(request, true).unwrap();
            let response = response.await.unwrap();
            assert_eq!(response.status(), expected);
            if expected == 426 {
                assert_eq!(response.headers()["sec-websocket-version"], "13");
            }
        }
        // The connection still serves WebSockets after the refusals.
        let mut stream = RawStream::open(&mut client, addr).await;
        stream.echo_text("still here").await;
    })
    .await;
}

#[tokio::test]
async fn permessage_deflate_is_negotiated_in_the_200() {
    within(async {
        let (addr, _, _) = server().await;
        let mut client = h2_client(addr).await;
        let request = connect(
            addr,
            Some("websocket"),
            &[
                ("sec-websocket-version", "13"),
                ("sec-websocket-extensions", "permessage-deflate"),
            ],
        );
        let (response, _send) = client.send_request(request, false).unwrap();
        let response = response.await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["sec-websocket-extensions"],
            "permessage-deflate"
        );
    })
    .await;
}

#[tokio::test]
async fn a_reset_stream_ends_only_its_own_websocket() {
    within(async {
        let (addr, mut ended, accepted) = server().await;
        let mut client = h2_client(addr).await;
        let mut kept = RawStream::open(&mut client, addr).await;
        let mut reset = RawStream::open(&mut client, addr).await;
        kept.echo_text("one").await;
        reset.echo_text("two").await;
        // Mid-message: half a frame, then RST_STREAM(CANCEL).
        reset.conn.send_text("cut short").unwrap();
        let mut wire = Vec::new();
        reset.conn.poll_transmit(&mut wire);
        reset
            .send
            .send_data(Bytes::copy_from_slice(&wire[..4]), false)
            .unwrap();
        reset.send.send_reset(h2::Reason::CANCEL);
        // That session ends, without a closing handshake.
        // hyper reads RST_STREAM(CANCEL) as the end of the stream.
        assert_eq!(ended.recv().await.unwrap(), unexpected_eof());
        // The other stream on the same connection goes on.
        kept.echo_text("three").await;
        kept.echo_text("four").await;
        assert_eq!(accepted.load(Ordering::Relaxed), 1);
    })
    .await;
}

#[tokio::test]
async fn a_dropped_connection_ends_its_websockets_with_an_error() {
    within(async {
        let (addr, mut ended, _) = server().await;
        let (a, b) = {
            let mut client = h2_client(addr).await;
            let mut a = RawStream::open(&mut client, addr).await;
            let mut b = RawStream::open(&mut client, addr).await;
            a.echo_text("a").await;
            b.echo_text("b").await;
            (a, b)
        };
        // The client's connection task holds the socket; dropping every
        // handle of the connection ends it.
        drop((a, b));
        for _ in 0..2 {
            assert_eq!(ended.recv().await.unwrap(), unexpected_eof());
        }
        // The server still takes new connections.
        let mut client = h2_client(addr).await;
        RawStream::open(&mut client, addr)
            .await
            .echo_text("new")
            .await;
    })
    .await;
}

/// JSON-like text that compresses well.
fn records(len: usize) -> String {
    let mut text = String::new();
    let mut id = 0;
    while text.len() < len {
        text.push_str(&format!(
            r#"{{"id":{id},"user":"user{}","text":"hello"}},"#,
            id % 7
        ));
        id += 1;
    }
    text.truncate(len);
    text
}

#[tokio::test]
async fn client_builder_over_h2_negotiates_a_subprotocol_and_deflate() {
    within(async {
        let (addr, mut ended, accepted_tcp) = server().await;
        let send = hyper_client(addr).await;
        let mut config = Config::default();
        config.deflate.enabled = true;
        let mut sockets = Vec::new();
        for stream in 0..3 {
            let (ws, accepted) = ClientBuilder::new(&format!("ws://{addr}/chat/{stream}"))
                .protocol("chat.v2")
                .protocol("chat.v1")
                .header("authorization", "Bearer 7d2c")
                .config(config.clone())
                .connect_h2(&mut send.clone())
                .await
                .unwrap();
            assert_eq!(accepted.response().status(), 200);
            assert_eq!(accepted.protocol(), Some("chat.v1"));
            assert_eq!(accepted.extensions()[0].name(), "permessage-deflate");
            sockets.push(ws);
        }
        for (stream, ws) in sockets.iter_mut().enumerate() {
            let text = records(300_000 + stream);
            for message in [Message::text(text), Message::binary(mebibyte())] {
                ws.send(message.clone()).await.unwrap();
                assert_eq!(ws.recv().await.unwrap().unwrap(), message);
            }
        }
        for mut ws in sockets {
            ws.close(CloseCode::NORMAL, "").await.unwrap();
            assert!(matches!(ws.recv().await, None | Some(Err(Error::Closed))));
        }
        for _ in 0..3 {
            assert_eq!(ended.recv().await.unwrap(), None);
        }
        assert_eq!(accepted_tcp.load(Ordering::Relaxed), 1);
    })
    .await;
}

#[tokio::test]
async fn client_builder_over_h2_reports_a_refusal_with_its_status() {
    within(async {
        let (addr, _, _) = server().await;
        let mut send = hyper_client(addr).await;
        let error = ClientBuilder::new(&format!("ws://{addr}/forbidden"))
            .connect_h2(&mut send)
            .await
            .unwrap_err();
        let Error::Response(error) = error else {
            panic!("{error:?}");
        };
        let refusal = error.response().expect("the refusal is kept");
        assert_eq!(refusal.status(), 403);
        // The connection goes on serving.
        let (mut ws, _) = ClientBuilder::new(&format!("ws://{addr}/echo"))
            .connect_h2(&mut send)
            .await
            .unwrap();
        ws.send(Message::text("after")).await.unwrap();
        assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text("after"));
    })
    .await;
}
