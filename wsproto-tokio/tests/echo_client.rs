//! The example client (`examples/client.rs`) against the example echo
//! server, over real sockets on 127.0.0.1: lines come back exactly, a
//! refused upgrade, nothing listening, and `wss://` with the right, no or
//! the wrong certificate.
//!
//! The servers (plain and TLS) run in-process, started once per test binary
//! on ephemeral ports in a background thread with its own runtime. Every
//! test is bounded by `TEST_TIMEOUT`.
// The examples these tests run negotiate permessage-deflate.
#![cfg(feature = "deflate")]

#[allow(dead_code)]
#[path = "../examples/echo_server.rs"]
mod echo_server;

#[allow(dead_code)]
#[path = "../examples/client.rs"]
mod client;

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::thread;
use std::time::Duration;

use client::{ClientError, run};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls::pki_types::CertificateDer;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use wsproto::handshake::ResponseErrorKind;

/// How long any one client run may take.
const TEST_TIMEOUT: Duration = Duration::from_secs(20);

struct Servers {
    plain: SocketAddr,
    tls: SocketAddr,
    /// The TLS server's self-signed certificate (PEM).
    cert_pem: String,
}

/// The tokio echo server, plain and over TLS, started on first use.
fn servers() -> &'static Servers {
    static SERVERS: OnceLock<Servers> = OnceLock::new();
    SERVERS.get_or_init(|| {
        let bind = || {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
            listener
                .set_nonblocking(true)
                .expect("non-blocking listener");
            let addr = listener.local_addr().expect("local address");
            (listener, addr)
        };
        let (plain, plain_addr) = bind();
        let (tls, tls_addr) = bind();
        let (acceptor, cert_pem) = echo_server::self_signed_tls().expect("a TLS acceptor");
        thread::Builder::new()
            .name("tokio echo servers".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("tokio runtime");
                runtime.block_on(async move {
                    let plain = tokio::net::TcpListener::from_std(plain).expect("listener");
                    let tls = tokio::net::TcpListener::from_std(tls).expect("listener");
                    tokio::spawn(echo_server::serve(tls, Some(acceptor)));
                    echo_server::serve(plain, None).await
                })
            })
            .expect("spawn the servers");
        Servers {
            plain: plain_addr,
            tls: tls_addr,
            cert_pem,
        }
    })
}

/// Runs the client on `url` with `input`; returns its result, what it wrote
/// on `out` and on `log`.
async fn run_client(
    url: &str,
    trust: Option<CertificateDer<'static>>,
    input: &[u8],
) -> (Result<(), ClientError>, Vec<u8>, Vec<u8>) {
    let mut out = Vec::new();
    let mut log = Vec::new();
    let result = tokio::time::timeout(TEST_TIMEOUT, run(url, trust, input, &mut out, &mut log))
        .await
        .expect("the client finished in time");
    (result, out, log)
}

fn cert(pem: &str) -> CertificateDer<'static> {
    CertificateDer::from_pem_slice(pem.as_bytes()).expect("a PEM certificate")
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

const LINES: &str = "hello\n\nnon-ASCII: héllo wörld, €, 😀, 日本語\n  spaces kept  \nlast\n";

#[tokio::test]
async fn lines_come_back_exactly() {
    let url = format!("ws://{}/", servers().plain);
    let (result, out, log) = run_client(&url, None, LINES.as_bytes()).await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(lossy(&out), LINES);
    assert_eq!(lossy(&log), "");
}

#[tokio::test]
async fn many_lines_and_a_long_one_come_back_exactly() {
    let mut input = String::new();
    for i in 0..2000 {
        input.push_str(&format!("line {i}: {}\n", "é".repeat(i % 100)));
    }
    input.push_str(&"long line ".repeat(100_000));
    input.push('\n');
    input.push_str("after the long line\n");
    let url = format!("ws://{}/many", servers().plain);
    let (result, out, _) = run_client(&url, None, input.as_bytes()).await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(out.len(), input.len());
    assert!(out == input.as_bytes(), "the lines differ");
}

#[tokio::test]
async fn empty_input_closes_cleanly() {
    let url = format!("ws://{}/", servers().plain);
    let (result, out, _) = run_client(&url, None, b"").await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(out, b"");
}

#[tokio::test]
async fn a_403_is_refused_with_its_status() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.expect("accept");
        let mut request = Vec::new();
        let mut buf = [0u8; 4096];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = tcp.read(&mut buf).await.expect("read the request");
            assert!(n > 0, "the client closed before its request was whole");
            request.extend_from_slice(&buf[..n]);
        }
        tcp.write_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 9\r\n\r\nforbidden")
            .await
            .expect("write the refusal");
        tcp.shutdown().await.expect("shut down");
        // Until the client goes, so our bytes are not lost to a reset.
        while tcp.read(&mut buf).await.is_ok_and(|n| n > 0) {}
        request
    });
    let url = format!("ws://{addr}/private");
    let (result, out, _) = run_client(&url, None, LINES.as_bytes()).await;
    match result {
        Err(ClientError::Refused(error)) => {
            assert_eq!(error.status(), Some(403));
            assert_eq!(error.kind(), ResponseErrorKind::NotSwitching);
        }
        other => panic!("expected Refused(403), got {other:?}"),
    }
    assert_eq!(out, b"");
    let request = tokio::time::timeout(TEST_TIMEOUT, server)
        .await
        .expect("the fake server finished")
        .expect("the fake server did not panic");
    assert!(request.starts_with(b"GET /private HTTP/1.1\r\n"));
}

#[tokio::test]
async fn nothing_listening_is_a_connect_error() {
    // A port that was just free: nothing listens on it once this is dropped.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("bind 127.0.0.1:0");
    let url = format!("ws://{addr}/");
    let (result, _, _) = run_client(&url, None, LINES.as_bytes()).await;
    assert!(
        matches!(result, Err(ClientError::Connect(_))),
        "expected Connect, got {result:?}"
    );
}

#[tokio::test]
async fn wss_with_the_servers_certificate_works() {
    let servers = servers();
    let url = format!("wss://localhost:{}/", servers.tls.port());
    let (result, out, log) =
        run_client(&url, Some(cert(&servers.cert_pem)), LINES.as_bytes()).await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(lossy(&out), LINES);
    assert_eq!(lossy(&log), "");
}

#[tokio::test]
async fn wss_without_a_trusted_certificate_is_refused() {
    let url = format!("wss://localhost:{}/", servers().tls.port());
    let (result, _, _) = run_client(&url, None, LINES.as_bytes()).await;
    assert!(
        matches!(result, Err(ClientError::NoTrustedCertificate)),
        "expected NoTrustedCertificate, got {result:?}"
    );
}

#[tokio::test]
async fn wss_trusting_another_certificate_fails_tls() {
    let (_, other_pem) = echo_server::self_signed_tls().expect("another certificate");
    let servers = servers();
    assert_ne!(other_pem, servers.cert_pem);
    let url = format!("wss://localhost:{}/", servers.tls.port());
    let (result, out, _) = run_client(&url, Some(cert(&other_pem)), LINES.as_bytes()).await;
    assert!(
        matches!(result, Err(ClientError::Tls(_))),
        "expected Tls, got {result:?}"
    );
    assert_eq!(out, b"");
}

/// A one-connection server that accepts the upgrade with our handshake
/// code, sends `frames` (server frames are unmasked) and then reads until
/// the client goes. Returns its address.
async fn scripted_server(frames: Vec<u8>) -> SocketAddr {
    use wsproto::handshake::ServerHandshake;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local address");
    tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.expect("accept");
        let mut handshake = ServerHandshake::new(&wsproto::Config::default());
        let mut buf = [0u8; 4096];
        let request = loop {
            let n = tcp.read(&mut buf).await.expect("read the request");
            assert!(n > 0, "the client closed before its request was whole");
            if let Some(request) = handshake.recv(&buf[..n]).expect("a valid request") {
                break request;
            }
        };
        let accepted = request.accept(&Default::default()).expect("accept");
        tcp.write_all(&accepted.to_bytes())
            .await
            .expect("write the 101");
        tcp.write_all(&frames).await.expect("write the frames");
        // The client sends nothing but the echo of our close (a masked
        // close frame, 0x88 first): once it is in, the server ends TCP
        // first, as RFC 6455 section 7.1.1 asks (the client waits for it).
        loop {
            match tcp.read(&mut buf).await {
                Ok(n) if n > 0 && !buf[..n].contains(&0x88) => {}
                _ => break,
            }
        }
    });
    addr
}

#[tokio::test]
async fn binary_is_reported_on_the_log_and_a_normal_server_close_is_ok() {
    let payload: Vec<u8> = (0..40).collect();
    let mut frames = vec![0x82, payload.len() as u8];
    frames.extend_from_slice(&payload);
    frames.extend_from_slice(&[0x81, 2, b'h', b'i']);
    frames.extend_from_slice(&[0x88, 2, 0x03, 0xe8]); // close 1000
    let addr = scripted_server(frames).await;
    let (mut out, mut log) = (Vec::new(), Vec::new());
    let url = format!("ws://{addr}/");
    // Input that stays open while `_writer` lives: only the server's close
    // can end the client.
    let (input, _writer) = tokio::io::duplex(64);
    let input = tokio::io::BufReader::new(input);
    let result = tokio::time::timeout(TEST_TIMEOUT, run(&url, None, input, &mut out, &mut log))
        .await
        .expect("the client finished in time");
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(lossy(&out), "hi\n");
    let hex: String = payload[..32].iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(lossy(&log), format!("binary, 40 bytes: {hex}...\n"));
}

#[tokio::test]
async fn a_server_closing_with_an_error_code_is_an_error() {
    let addr = scripted_server(vec![0x88, 2, 0x03, 0xf3]).await; // close 1011
    let url = format!("ws://{addr}/");
    // Input that stays open while `_writer` lives: only the server's close
    // can end the client.
    let (input, _writer) = tokio::io::duplex(64);
    let input = tokio::io::BufReader::new(input);
    let result = tokio::time::timeout(TEST_TIMEOUT, run(&url, None, input, Vec::new(), Vec::new()))
        .await
        .expect("the client finished in time");
    match result {
        Err(ClientError::ClosedByServer(code)) => assert_eq!(code.0, 1011),
        other => panic!("expected ClosedByServer(1011), got {other:?}"),
    }
}
