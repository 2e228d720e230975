//! The example `echo_server` over TLS with HTTP/2 (feature `h2`): ALPN
//! chooses between HTTP/2 and HTTP/1.1 on one port, WebSockets are echoed
//! on both (over HTTP/2 by extended CONNECT, many on one connection), any
//! other HTTP/2 request gets a complete 404, and `--tls-cert`/`--tls-key`
//! files are read as the example reads them.

#[allow(dead_code)]
#[path = "../examples/echo_server.rs"]
mod echo_server;

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::{TokioExecutor, TokioIo};
use support::{extended_connect, mebibyte, within};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use wsproto::Config;
use wsproto_tokio::{ClientBuilder, CloseCode, Message};

/// A certificate for `localhost` and `127.0.0.1` written as the two PEM
/// files `--tls-cert` and `--tls-key` take (the key PKCS#8, an EC P-256
/// key), and the server started with them. Returns its address and the
/// certificate to trust.
async fn server() -> (SocketAddr, CertificateDer<'static>) {
    let generated =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    // A directory per server: the tests of this file run at once.
    static SERVERS: AtomicUsize = AtomicUsize::new(0);
    let n = SERVERS.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("echo_server_h2-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, generated.cert.pem()).unwrap();
    std::fs::write(&key, generated.signing_key.serialize_pem()).unwrap();
    let acceptor = echo_server::tls_from_files(&cert, &key).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(echo_server::serve(listener, Some(acceptor)));
    (addr, generated.cert.der().clone())
}

/// A TLS client configuration trusting `cert`, offering `alpn`.
fn tls_client(cert: &CertificateDer<'static>, alpn: &[&[u8]]) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(cert.clone()).unwrap();
    let mut config = ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// hyper's HTTP/2 client over TLS with ALPN `h2`; checks that the server
/// chose it.
async fn h2_client(
    addr: SocketAddr,
    cert: &CertificateDer<'static>,
) -> hyper::client::conn::http2::SendRequest<Empty<Bytes>> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let tls = TlsConnector::from(tls_client(cert, &[b"h2", b"http/1.1"]))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (send, connection) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(connection);
    send
}

#[tokio::test]
async fn websockets_over_http2_and_a_404_share_one_tls_connection() {
    within(async {
        let (addr, cert) = server().await;
        let send = h2_client(addr, &cert).await;
        let mut config = Config::default();
        config.deflate.enabled = true;
        let mut sockets = Vec::new();
        for path in ["/", "/any/path?x=1"] {
            let url = format!("wss://localhost:{}{path}", addr.port());
            let (ws, accepted) = ClientBuilder::new(&url)
                .config(config.clone())
                .connect_h2(&mut send.clone())
                .await
                .unwrap();
            assert_eq!(accepted.response().status(), 200);
            assert_eq!(accepted.extensions()[0].name(), "permessage-deflate");
            sockets.push(ws);
        }
        // Any other request on the same connection: a complete 404.
        let request = hyper::Request::get(format!("https://localhost:{}/", addr.port()))
            .body(Empty::new())
            .unwrap();
        let response = send.clone().send_request(request).await.unwrap();
        assert_eq!(response.status(), 404);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"not found\n");
        for ws in &mut sockets {
            for message in [Message::text("héllo"), Message::binary(mebibyte())] {
                ws.send(message.clone()).await.unwrap();
                assert_eq!(ws.recv().await.unwrap().unwrap(), message);
            }
        }
        for mut ws in sockets {
            ws.close(CloseCode::NORMAL, "").await.unwrap();
            assert!(ws.recv().await.is_none());
        }
    })
    .await;
}

#[tokio::test]
async fn http11_on_the_same_port_still_upgrades() {
    within(async {
        let (addr, cert) = server().await;
        for alpn in [&[b"http/1.1" as &[u8]][..], &[]] {
            let (mut ws, accepted) =
                ClientBuilder::new(&format!("wss://localhost:{}/", addr.port()))
                    .tls_config(tls_client(&cert, alpn))
                    .connect()
                    .await
                    .unwrap();
            assert_eq!(accepted.response().status(), 101);
            ws.send(Message::text("over HTTP/1.1")).await.unwrap();
            assert_eq!(
                ws.recv().await.unwrap().unwrap(),
                Message::text("over HTTP/1.1")
            );
            ws.close(CloseCode::NORMAL, "").await.unwrap();
        }
    })
    .await;
}

#[tokio::test]
async fn a_bad_websocket_request_over_http2_is_refused() {
    within(async {
        let (addr, cert) = server().await;
        let mut send = h2_client(addr, &cert).await;
        let uri = format!("https://localhost:{}/", addr.port());
        let response = send
            .send_request(extended_connect(&uri, "12"))
            .await
            .unwrap();
        assert_eq!(response.status(), 426);
        assert_eq!(response.headers()["sec-websocket-version"], "13");
    })
    .await;
}
