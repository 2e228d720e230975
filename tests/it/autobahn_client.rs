//! The Autobahn client testee (`examples/autobahn_client.rs`) against a
//! scripted stand-in for `wstest -m fuzzingserver`, over real sockets on
//! 127.0.0.1: the order of requests (case count, every case with the agent
//! name, the reports), echoes, automatic pongs, a protocol error answered
//! with 1002, an echoed close code, and the errors that stop a run.
//!
//! The real suite runs in CI through `scripts/autobahn.sh`; this checks the
//! driver's side of the protocol in the README's test command.
// The examples these tests run negotiate permessage-deflate.
#![cfg(feature = "deflate")]

#[allow(dead_code)]
#[path = "../../examples/autobahn_client.rs"]
mod autobahn_client;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use autobahn_client::{ClientError, run};
use wsproto::handshake::{Accept, ServerHandshake};
use wsproto::{CloseCode, Config, ConnectionError, Control, Event, State};

/// How long the stand-in waits for the client before a test fails.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// What the stand-in saw on one connection: the request target and the
/// client's messages, pongs and close, in order.
#[derive(Debug, PartialEq)]
struct Seen {
    target: String,
    events: Vec<Received>,
}

#[derive(Debug, PartialEq)]
enum Received {
    Text(String),
    Binary(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<u16>),
    /// The connection failed (e.g. the client hung up without a close).
    Failed(wsproto::ConnectionError),
}

/// What the stand-in sends on a connection right after the handshake.
enum Script {
    /// Messages and pings through the crate, then a close with this code.
    Frames(Vec<Send>, u16),
    /// Bytes written as they are (a frame the crate would never build).
    Raw(&'static [u8]),
}

enum Send {
    Text(&'static str),
    Binary(&'static [u8]),
    Ping(&'static [u8]),
}

/// Serves `connections` connections one after another in a background
/// thread, each with the script `script_for` picks by its request target;
/// returns the base URL and a handle whose result is everything seen.
fn stand_in(
    script_for: fn(&str) -> Script,
    connections: usize,
) -> (String, thread::JoinHandle<Vec<Seen>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("ws://{}", listener.local_addr().expect("address"));
    let handle = thread::spawn(move || {
        (0..connections)
            .map(|_| {
                let (tcp, _) = listener.accept().expect("accept");
                serve(tcp, script_for)
            })
            .collect()
    });
    (base, handle)
}

fn serve(mut tcp: TcpStream, script_for: fn(&str) -> Script) -> Seen {
    tcp.set_read_timeout(Some(READ_TIMEOUT)).expect("timeout");
    let mut buf = vec![0; 64 * 1024];
    let mut handshake = ServerHandshake::new(&Config::default());
    let request = loop {
        let n = tcp.read(&mut buf).expect("request");
        assert!(n > 0, "the client hung up during its request");
        if let Some(request) = handshake.recv(&buf[..n]).expect("a valid request") {
            break request;
        }
    };
    let target = request.target().to_owned();
    let response = request.accept(&Accept::new()).expect("response");
    tcp.write_all(&response.to_bytes()).expect("write response");
    let mut conn = request.into_connection(Config::default());
    match script_for(&target) {
        Script::Frames(sends, code) => {
            for send in sends {
                match send {
                    Send::Text(text) => conn.send_text(text),
                    Send::Binary(data) => conn.send_binary(data),
                    Send::Ping(payload) => conn.send_ping(payload),
                }
                .expect("send");
            }
            conn.close(std::time::Instant::now(), CloseCode::from(code), "")
                .expect("close");
        }
        Script::Raw(bytes) => tcp.write_all(bytes).expect("write raw"),
    }
    let mut events = Vec::new();
    loop {
        loop {
            let event = match conn.poll_event() {
                Ok(Some(event)) => event,
                Ok(None) => break,
                Err(error) => {
                    events.push(Received::Failed(error));
                    return Seen { target, events };
                }
            };
            events.push(match event {
                Event::Text(text) => Received::Text(text.into()),
                Event::Binary(data) => Received::Binary(data.to_vec()),
                Event::Control(Control::Pong(payload)) => Received::Pong(payload.to_vec()),
                Event::Control(Control::Close(frame)) => {
                    Received::Close((!frame.is_empty()).then(|| frame.code().into()))
                }
                other => panic!("the client has no reason to send {other:?}"),
            });
        }
        // `pending_transmit` hands out one piece at a time (an owed pong
        // is a piece of its own): write until nothing is left.
        while !conn.pending_transmit().is_empty() {
            let pending = conn.pending_transmit().len();
            tcp.write_all(conn.pending_transmit()).expect("write");
            conn.advance_transmit(pending);
        }
        // The server closes TCP first (RFC 6455 section 7.1.1): the client
        // waits for this.
        if conn.state() == State::Closed {
            return Seen { target, events };
        }
        match tcp.read(&mut buf).expect("read") {
            0 => conn.recv_eof(),
            n => conn.recv(&buf[..n]),
        }
    }
}

fn suite(target: &str) -> Script {
    match target {
        "/getCaseCount" => Script::Frames(vec![Send::Text("3")], 1000),
        "/runCase?case=1&agent=wsproto" => Script::Frames(
            vec![Send::Text("héllo ✓"), Send::Binary(&[0, 1, 2, 255])],
            1000,
        ),
        // A frame with reserved opcode 0x3: the client must fail with 1002.
        "/runCase?case=2&agent=wsproto" => Script::Raw(&[0x83, 0x00]),
        "/runCase?case=3&agent=wsproto" => Script::Frames(vec![Send::Ping(b"p")], 4001),
        "/updateReports?agent=wsproto" => Script::Frames(vec![], 1000),
        other => panic!("unexpected request target {other}"),
    }
}

#[test]
fn runs_every_case_in_order_then_asks_for_the_reports() {
    let (base, server) = stand_in(suite, 5);
    run(&base).expect("the run completes");
    let seen = server.join().expect("the stand-in server");
    let expected = [
        ("/getCaseCount", vec![Received::Close(Some(1000))]),
        (
            "/runCase?case=1&agent=wsproto",
            vec![
                Received::Text("héllo ✓".into()),
                Received::Binary(vec![0, 1, 2, 255]),
                Received::Close(Some(1000)),
            ],
        ),
        (
            "/runCase?case=2&agent=wsproto",
            vec![Received::Close(Some(1002))],
        ),
        (
            "/runCase?case=3&agent=wsproto",
            vec![Received::Pong(b"p".to_vec()), Received::Close(Some(4001))],
        ),
        (
            "/updateReports?agent=wsproto",
            vec![Received::Close(Some(1000))],
        ),
    ]
    .map(|(target, events)| Seen {
        target: target.into(),
        events,
    });
    assert_eq!(seen, expected);
}

#[test]
fn a_trailing_slash_on_the_base_url_is_ignored() {
    let (base, server) = stand_in(
        |target| match target {
            "/getCaseCount" => Script::Frames(vec![Send::Text("0")], 1000),
            "/updateReports?agent=wsproto" => Script::Frames(vec![], 1000),
            other => panic!("unexpected request target {other}"),
        },
        2,
    );
    run(&format!("{base}/")).expect("the run completes");
    let targets: Vec<String> = server
        .join()
        .expect("stand-in")
        .into_iter()
        .map(|s| s.target)
        .collect();
    assert_eq!(targets, ["/getCaseCount", "/updateReports?agent=wsproto"]);
}

#[test]
fn a_case_count_that_is_not_a_number_stops_the_run() {
    let (base, server) = stand_in(|_| Script::Frames(vec![Send::Text("many")], 1000), 1);
    match run(&base) {
        Err(ClientError::BadCaseCount(text)) => assert_eq!(text, "many"),
        other => panic!("expected BadCaseCount, got {other:?}"),
    }
    server.join().expect("stand-in");
}

#[test]
fn a_close_instead_of_the_case_count_stops_the_run() {
    let (base, server) = stand_in(|_| Script::Frames(vec![], 1001), 1);
    assert!(matches!(run(&base), Err(ClientError::NoCaseCount(None))));
    // The client hung up at once rather than leaving the stand-in to wait
    // for its read timeout.
    let seen = server.join().expect("stand-in");
    assert_eq!(
        seen[0].events,
        [Received::Failed(ConnectionError::UnexpectedEof)]
    );
}

#[test]
fn nothing_listening_is_an_io_error() {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let result = run(&format!("ws://127.0.0.1:{port}"));
    assert!(matches!(result, Err(ClientError::Io(_))), "{result:?}");
}

#[test]
fn a_url_that_is_not_ws_is_refused_before_connecting() {
    assert!(matches!(
        run("http://127.0.0.1:9"),
        Err(ClientError::Url(_))
    ));
}
