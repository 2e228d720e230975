//! WebSocket over HTTP/2 next to HTTP/1.1: 100 WebSockets as the streams
//! of one HTTP/2 connection against 100 HTTP/1.1 connections, in echoes per
//! second and server CPU per echo.
//!
//! ```sh
//! cargo bench -p wsproto-tokio --features h2 --bench h2_echo
//! H2_SOCKETS=10 H2_MESSAGE=16384 H2_ROUNDS=3 cargo bench -p wsproto-tokio --features h2 --bench h2_echo
//! ```
//!
//! `cargo test --benches` and CI only build this: without cargo bench's
//! `--bench` argument it returns at once.
//!
//! **What is compared** is the cost of the transport around the same
//! WebSocket code, not libraries: both sides are this crate's driver, with
//! the same default `Config` (no compression; client masks from the
//! default `OsEntropy`, ChaCha12) and the echo bench's wsproto-tokio server
//! loop (`support::wsproto_tokio_echo`: `recv`, `feed`; the next `recv`
//! writes out what was fed). Both deliver owned whole messages
//! (`Message::Binary`) on both sides. Over HTTP/1.1 each WebSocket is a TCP connection
//! (`Acceptor::accept`, `ClientBuilder::connect`); over HTTP/2 (cleartext,
//! prior knowledge: no TLS on either side) each is a stream of one TCP
//! connection, served by hyper 1 with `enable_connect_protocol()` and
//! upgraded by `wsproto_tokio::hyper::upgrade`, opened by
//! `ClientBuilder::connect_h2` on one hyper client connection. hyper's
//! defaults otherwise (windows, frame size, streams).
//!
//! **How.** The server runs on a current-thread tokio runtime on its own
//! thread, the clients on another. `H2_SOCKETS` WebSockets (100) each keep
//! one binary message of `H2_MESSAGE` bytes (512) in flight: send, wait
//! for the echo, check its length, again. The WebSockets are opened before
//! the clock starts; each round runs `H2_SECS` seconds (2), `H2_ROUNDS`
//! rounds (5), the two transports alternating. Reported: echoes per second
//! (median and range) and the server thread's CPU time per echo (median).
//! The client is a tokio client too, so on this 2-core machine each side
//! has a core and the rows measure the pair; read the CPU column for the
//! server's own cost.

#[allow(dead_code)]
mod support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use std::{env, thread};

use bytes::Bytes;
use http_body_util::{Empty, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use support::{current_thread, setting, thread_cpu_time, wsproto_tokio_echo};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use wsproto_tokio::{Acceptor, ClientBuilder, CloseCode, Config, Message, WebSocket};

fn main() -> ExitCode {
    if !env::args().any(|arg| arg == "--bench") {
        return ExitCode::SUCCESS;
    }
    let sockets = setting("H2_SOCKETS", 100);
    let size = setting("H2_MESSAGE", 512);
    let rounds = setting("H2_ROUNDS", 5);
    let secs = env::var("H2_SECS").map_or(2.0, |s| s.parse().expect("H2_SECS: seconds"));

    let (addrs, server_thread) = start_server();
    let client = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("the client runtime");
    let mut results: [Vec<(f64, f64)>; 2] = [Vec::new(), Vec::new()];
    client.block_on(async {
        for round in 0..rounds {
            for transport in [Transport::Http1, Transport::Http2] {
                let addr = match transport {
                    Transport::Http1 => addrs.http1,
                    Transport::Http2 => addrs.http2,
                };
                let figures = run(transport, addr, sockets, size, secs, server_thread).await;
                println!(
                    "round {round} {:<8} {:>9.0} echoes/s {:>6.2} us server CPU per echo",
                    transport.name(),
                    figures.0,
                    figures.1
                );
                results[transport as usize].push(figures);
            }
        }
    });
    println!();
    println!(
        "{sockets} WebSockets, one {size}-byte binary message in flight on each, \
         {rounds} rounds of {secs} s"
    );
    println!(
        "{:<28} {:>12} {:>22} {:>16}",
        "transport", "echoes/s", "range", "server us/echo"
    );
    for transport in [Transport::Http1, Transport::Http2] {
        let rows = &mut results[transport as usize];
        let rate = median(rows.iter().map(|r| r.0).collect());
        let cpu = median(rows.iter().map(|r| r.1).collect());
        let low = rows.iter().map(|r| r.0).fold(f64::INFINITY, f64::min);
        let high = rows.iter().map(|r| r.0).fold(0.0, f64::max);
        println!(
            "{:<28} {rate:>12.0} {:>22} {cpu:>16.2}",
            transport.label(sockets),
            format!("{low:.0} - {high:.0}")
        );
    }
    ExitCode::SUCCESS
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Transport {
    Http1 = 0,
    Http2 = 1,
}

impl Transport {
    fn name(self) -> &'static str {
        match self {
            Transport::Http1 => "HTTP/1.1",
            Transport::Http2 => "HTTP/2",
        }
    }

    fn label(self, sockets: usize) -> String {
        match self {
            Transport::Http1 => format!("HTTP/1.1, {sockets} connections"),
            Transport::Http2 => format!("HTTP/2, {sockets} streams of 1"),
        }
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

struct Addrs {
    http1: SocketAddr,
    http2: SocketAddr,
}

/// The server thread: an HTTP/1.1 listener and an HTTP/2 (h2c) one on a
/// current-thread runtime. Returns their addresses and the thread's id.
fn start_server() -> (Addrs, libc::pthread_t) {
    let (ready, addrs) = mpsc::channel();
    thread::Builder::new()
        .name("h2_echo server".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("the server runtime");
            runtime.block_on(async move {
                let http1 = TcpListener::bind("127.0.0.1:0").await.expect("bind");
                let http2 = TcpListener::bind("127.0.0.1:0").await.expect("bind");
                let found = Addrs {
                    http1: http1.local_addr().expect("address"),
                    http2: http2.local_addr().expect("address"),
                };
                ready
                    .send((found, current_thread()))
                    .expect("the main thread");
                tokio::spawn(serve_http1(http1));
                serve_http2(http2).await
            })
        })
        .expect("the server thread");
    addrs.recv().expect("the server's addresses")
}

async fn serve_http1(listener: TcpListener) {
    let acceptor = Arc::new(Acceptor::new());
    loop {
        let (tcp, _) = listener.accept().await.expect("accept");
        tcp.set_nodelay(true).expect("TCP_NODELAY");
        let acceptor = Arc::clone(&acceptor);
        tokio::spawn(async move {
            if let Ok(ws) = acceptor.accept(tcp).await {
                tokio::spawn(wsproto_tokio_echo(ws, failed));
            }
        });
    }
}

async fn serve_http2(listener: TcpListener) {
    loop {
        let (tcp, _) = listener.accept().await.expect("accept");
        tcp.set_nodelay(true).expect("TCP_NODELAY");
        let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
        builder.enable_connect_protocol();
        let service = service_fn(|mut request: hyper::Request<Incoming>| async move {
            let config = Config::default();
            let upgrade = wsproto_tokio::hyper::upgrade(&mut request, &config);
            Ok::<hyper::Response<Full<Bytes>>, Infallible>(match upgrade {
                Ok((response, upgrading)) => {
                    tokio::spawn(async move {
                        if let Ok(ws) = upgrading.await {
                            wsproto_tokio_echo(ws, failed).await;
                        }
                    });
                    response
                }
                Err(refusal) => refusal.into_http(),
            })
        });
        tokio::spawn(async move {
            let _ = builder.serve_connection(TokioIo::new(tcp), service).await;
        });
    }
}

/// A server connection that did not end cleanly fails the bench.
fn failed(_: support::Kind, error: String) {
    panic!("a server connection failed: {error}");
}

/// One round: opens the WebSockets (untimed), runs them for `secs`, closes
/// them. Returns echoes per second and server CPU microseconds per echo.
async fn run(
    transport: Transport,
    addr: SocketAddr,
    sockets: usize,
    size: usize,
    secs: f64,
    server_thread: libc::pthread_t,
) -> (f64, f64) {
    let url = format!("ws://{addr}/echo");
    let mut all = Vec::with_capacity(sockets);
    match transport {
        Transport::Http1 => {
            for _ in 0..sockets {
                let (ws, _) = ClientBuilder::new(&url).connect().await.expect("connect");
                all.push(Socket::Http1(ws));
            }
        }
        Transport::Http2 => {
            let tcp = TcpStream::connect(addr).await.expect("connect");
            tcp.set_nodelay(true).expect("TCP_NODELAY");
            let (send, connection) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
                .handshake::<_, Empty<Bytes>>(TokioIo::new(tcp))
                .await
                .expect("HTTP/2 handshake");
            tokio::spawn(connection);
            for _ in 0..sockets {
                let (ws, _) = ClientBuilder::new(&url)
                    .connect_h2(&mut send.clone())
                    .await
                    .expect("extended CONNECT");
                all.push(Socket::Http2(ws));
            }
        }
    }
    let (stop, echoes) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
    );
    let message = Message::binary(vec![0x5a; size]);
    let cpu_before = thread_cpu_time(server_thread);
    let start = Instant::now();
    let tasks: Vec<_> = all
        .into_iter()
        .map(|socket| {
            let (stop, echoes, message) = (Arc::clone(&stop), Arc::clone(&echoes), message.clone());
            tokio::spawn(socket.echo_until(stop, echoes, message))
        })
        .collect();
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    stop.store(true, Relaxed);
    let counted = echoes.load(Relaxed);
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = thread_cpu_time(server_thread).saturating_sub(cpu_before);
    for task in tasks {
        task.await.expect("a client task");
    }
    (
        counted as f64 / elapsed,
        cpu.as_secs_f64() * 1e6 / counted.max(1) as f64,
    )
}

enum Socket {
    Http1(WebSocket<wsproto_tokio::ClientStream>),
    Http2(WebSocket<wsproto_tokio::hyper::UpgradedIo>),
}

impl Socket {
    async fn echo_until(self, stop: Arc<AtomicBool>, echoes: Arc<AtomicU64>, message: Message) {
        match self {
            Socket::Http1(ws) => echo_until(ws, stop, echoes, message).await,
            Socket::Http2(ws) => echo_until(ws, stop, echoes, message).await,
        }
    }
}

/// Sends `message` and waits for its echo until `stop`, counting echoes;
/// then closes.
async fn echo_until<IO: AsyncRead + AsyncWrite + Unpin>(
    mut ws: WebSocket<IO>,
    stop: Arc<AtomicBool>,
    echoes: Arc<AtomicU64>,
    message: Message,
) {
    let len = message.as_bytes().len();
    while !stop.load(Relaxed) {
        ws.send(message.clone()).await.expect("send");
        let echo = ws.recv().await.expect("an echo").expect("an echo");
        assert_eq!(echo.as_bytes().len(), len, "echo length");
        echoes.fetch_add(1, Relaxed);
    }
    let _ = ws.close(CloseCode::NORMAL, "").await;
}
