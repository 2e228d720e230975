//! `wss://` with the `rustls` feature, over loopback TCP: our client,
//! trusting a self-signed certificate through `ClientBuilder::tls_config`,
//! and our server behind a tokio-rustls acceptor exchange messages (small,
//! 1 MiB, and through split halves) and close cleanly; a client that does
//! not trust the certificate is refused; a close or keepalive timeout ends
//! `recv` even when the TLS stream holds bytes it cannot write.

#![cfg(feature = "rustls")]

mod common;

use std::sync::Arc;

use std::time::Duration;

use common::{
    connect_small, echo_all, finishes_within, listen, listen_small, raw_server_on, within,
};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::crypto::ring;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::{ClientConfig, RootCertStore, ServerConfig};
use wsproto::{CloseCode, Config, ConnectionError};
use wsproto_tokio::{ClientBuilder, Error, Message};

/// A self-signed certificate for 127.0.0.1, and a TLS acceptor serving it.
fn self_signed() -> (CertificateDer<'static>, TlsAcceptor) {
    let generated = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let cert = generated.cert.der().clone();
    let key = PrivatePkcs8KeyDer::from(generated.signing_key.serialize_der());
    let config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], PrivateKeyDer::Pkcs8(key))
        .unwrap();
    (cert, TlsAcceptor::from(Arc::new(config)))
}

/// A client configuration trusting `root` only.
fn trusting(root: CertificateDer<'static>) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(root).unwrap();
    let config = ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

/// Our server behind TLS on `listener`: echoes data messages until the
/// client closes; returns how many it echoed.
fn spawn_tls_echo(
    listener: TcpListener,
    acceptor: TlsAcceptor,
) -> tokio::task::JoinHandle<Result<usize, Error>> {
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await?;
        let tls = acceptor.accept(tcp).await?;
        echo_all(wsproto_tokio::accept(tls).await?).await
    })
}

#[tokio::test]
async fn a_wss_client_trusting_a_self_signed_certificate_round_trips() {
    let (cert, acceptor) = self_signed();
    let (listener, addr) = listen().await;
    let server = spawn_tls_echo(listener, acceptor);
    let url = format!("wss://127.0.0.1:{}/", addr.port());
    let (mut ws, accepted) = within(
        "connect",
        ClientBuilder::new(&url)
            .tls_config(trusting(cert))
            .connect(),
    )
    .await
    .unwrap();
    assert_eq!(accepted.response().status(), 101);
    assert!(matches!(
        ws.get_ref(),
        wsproto_tokio::ClientStream::Rustls(_)
    ));
    let big: Vec<u8> = (0..1 << 20).map(|i| (i % 253) as u8).collect();
    for message in [
        Message::text("over tls"),
        Message::binary(big),
        Message::text("é€𝄞"),
    ] {
        within("send", ws.send(message.clone())).await.unwrap();
        let echo = within("echo", ws.recv()).await.unwrap().unwrap();
        assert!(echo == message, "the echo differs");
    }
    // A ping is answered through TLS too.
    within("ping", ws.send(Message::Ping(b"tls".to_vec().into())))
        .await
        .unwrap();
    let pong = within("pong", ws.recv()).await.unwrap().unwrap();
    assert_eq!(pong, Message::Pong(b"tls".to_vec().into()));
    within("close", ws.close(CloseCode::NORMAL, "done"))
        .await
        .unwrap();
    assert_eq!(within("server", server).await.unwrap().unwrap(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_halves_work_over_tls() {
    let (cert, acceptor) = self_signed();
    let (listener, addr) = listen().await;
    let server = spawn_tls_echo(listener, acceptor);
    let url = format!("wss://127.0.0.1:{}/", addr.port());
    let (ws, _) = within(
        "connect",
        ClientBuilder::new(&url)
            .tls_config(trusting(cert))
            .connect(),
    )
    .await
    .unwrap();
    let (mut reader, mut writer) = ws.split();
    const COUNT: usize = 300;
    let writing = tokio::spawn(async move {
        for n in 0..COUNT {
            writer
                .send(Message::binary(vec![(n % 256) as u8; 3000 + n]))
                .await
                .unwrap();
        }
        writer
    });
    for n in 0..COUNT {
        let echo = within("echo", reader.recv()).await.unwrap().unwrap();
        assert_eq!(echo, Message::binary(vec![(n % 256) as u8; 3000 + n]));
    }
    let mut writer = within("writer", writing).await.unwrap();
    within("close", writer.close(CloseCode::NORMAL, ""))
        .await
        .unwrap();
    let close = within("the server's close", reader.recv()).await;
    assert!(matches!(close, Some(Ok(Message::Close(_)))), "{close:?}");
    assert!(within("end", reader.recv()).await.is_none());
    assert_eq!(within("server", server).await.unwrap().unwrap(), COUNT);
}

#[tokio::test]
async fn an_untrusted_certificate_is_refused() {
    let (_cert, acceptor) = self_signed();
    let (other_root, _) = self_signed();
    let (listener, addr) = listen().await;
    let server = spawn_tls_echo(listener, acceptor);
    let url = format!("wss://127.0.0.1:{}/", addr.port());
    let outcome = within(
        "connect",
        ClientBuilder::new(&url)
            .tls_config(trusting(other_root))
            .connect(),
    )
    .await;
    assert!(matches!(outcome, Err(Error::Io(_))), "{:?}", outcome.err());
    assert!(within("server", server).await.unwrap().is_err());
}

/// Our client over TLS to a server that completes the handshakes, then
/// reads nothing: small kernel buffers, filled until a send is stuck. The
/// server writes what it is sent through the channel, and holds the
/// connection until the channel is dropped.
async fn client_stuck_on_a_server_that_stops_reading(
    config: Config,
) -> (
    wsproto_tokio::WebSocket<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>,
    tokio::sync::mpsc::UnboundedSender<Vec<u8>>,
) {
    let (cert, acceptor) = self_signed();
    let (listener, addr) = listen_small().await;
    let (to_server, mut writes) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let tls = acceptor.accept(tcp).await.unwrap();
        let mut peer = raw_server_on(tls, Config::default()).await;
        while let Some(bytes) = writes.recv().await {
            peer.write_raw(&bytes).await;
        }
    });
    let tcp = connect_small(addr).await;
    let name = tokio_rustls::rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let tls = tokio_rustls::TlsConnector::from(trusting(cert))
        .connect(name, tcp)
        .await
        .unwrap();
    let url = format!("wss://127.0.0.1:{}/", addr.port());
    let (mut ws, _) = within(
        "handshake",
        ClientBuilder::new(&url).config(config).connect_on(tls),
    )
    .await
    .unwrap();
    let mut sent = 0;
    while finishes_within(
        Duration::from_millis(300),
        ws.send(Message::binary(vec![5u8; 16 << 10])),
    )
    .await
    .is_some()
    {
        sent += 1;
        assert!(sent < 10_000, "never stuck");
    }
    (ws, to_server)
}

#[tokio::test]
async fn a_close_timeout_ends_close_over_a_stuck_tls_stream() {
    let mut config = Config::default();
    config.close_timeout = Some(Duration::from_millis(200));
    let (mut ws, _server) = client_stuck_on_a_server_that_stops_reading(config).await;
    let closed = within("close", ws.close(CloseCode::NORMAL, "")).await;
    assert!(
        matches!(
            closed,
            Err(Error::Connection(ConnectionError::CloseTimeout))
        ),
        "{closed:?}"
    );
}

#[tokio::test]
async fn a_keepalive_timeout_ends_recv_over_a_stuck_tls_stream() {
    let mut config = Config::default();
    config.keepalive_interval = Some(Duration::from_millis(200));
    config.keepalive_timeout = Duration::from_millis(200);
    let (mut ws, _server) = client_stuck_on_a_server_that_stops_reading(config).await;
    let ended = within("recv", ws.recv()).await;
    assert!(
        matches!(
            ended,
            Some(Err(Error::Connection(ConnectionError::KeepaliveTimeout)))
        ),
        "{ended:?}"
    );
}

/// A violation's close frame that the stuck stream cannot write: `recv`
/// returns the violation at the close timeout.
#[tokio::test]
async fn a_violation_ends_recv_at_the_close_timeout_over_a_stuck_tls_stream() {
    let mut config = Config::default();
    config.close_timeout = Some(Duration::from_millis(200));
    let (mut ws, server) = client_stuck_on_a_server_that_stops_reading(config).await;
    // A masked frame, from a server.
    server
        .send(common::frame(
            wsproto::frame::OpCode::Text,
            true,
            b"x",
            Some([1, 2, 3, 4]),
        ))
        .unwrap();
    let start = std::time::Instant::now();
    let ended = within("recv", ws.recv()).await;
    assert!(
        matches!(
            ended,
            Some(Err(Error::Connection(ConnectionError::Protocol(
                wsproto::ProtocolError::MaskedFrame
            ))))
        ),
        "{ended:?}"
    );
    assert!(
        start.elapsed() >= Duration::from_millis(150),
        "{:?}",
        start.elapsed()
    );
    assert!(ws.recv().await.is_none());
}
