//! The server side of the opening handshake (RFC 6455 section 4.2) through
//! the public API: reading a request from chunks, every refusal with its
//! exact answer, accepting and refusing, the leftover bytes that reach the
//! connection, the handover from parts, RFC 8441 and the `http` crate types.
//! The client side is in `handshake_client.rs`.

#![cfg(feature = "std")]

use crate::common;

use common::{OP_PING, OP_TEXT, client_frame};
use wsproto::handshake::{
    Accept, BuildError, Extension, Headers, HttpVersion, Request, RequestError, Response,
    ServerHandshake, accept_key,
};
use wsproto::{Config, Control, ControlPayload, Event};

/// The sample key of RFC 6455 section 1.3 and its accept value.
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// A request head: the lines joined with CRLF, then the blank line.
fn request(lines: &[&str]) -> Vec<u8> {
    let mut head = lines.join("\r\n");
    head.push_str("\r\n\r\n");
    head.into_bytes()
}

/// The lines of a minimal valid upgrade request.
fn valid_lines() -> Vec<String> {
    [
        "GET /chat HTTP/1.1",
        "Host: example.com",
        "Upgrade: websocket",
        "Connection: Upgrade",
        &format!("Sec-WebSocket-Key: {KEY}"),
        "Sec-WebSocket-Version: 13",
    ]
    .map(str::to_owned)
    .to_vec()
}

/// The valid request with another request line (if given), without the
/// fields named in `remove` (any case), and with the lines `add` appended.
fn edited(request_line: Option<&str>, remove: &[&str], add: &[&str]) -> Vec<u8> {
    let mut lines = valid_lines();
    if let Some(line) = request_line {
        lines[0] = line.to_owned();
    }
    lines.retain(|line| {
        !remove.iter().any(|name| {
            line.split_once(':')
                .is_some_and(|(field, _)| field.eq_ignore_ascii_case(name))
        })
    });
    lines.extend(add.iter().map(|line| (*line).to_owned()));
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    request(&lines)
}

/// The valid request with the lines `add` appended.
fn with(add: &[&str]) -> Vec<u8> {
    edited(None, &[], add)
}

/// The valid request without the field `name`.
fn without(name: &str) -> Vec<u8> {
    edited(None, &[name], &[])
}

/// The valid request with `line` instead of the field it names.
fn replacing(line: &str) -> Vec<u8> {
    let (name, _) = line.split_once(':').expect("a field line");
    edited(None, &[name], &[line])
}

/// The valid request with another request line.
fn request_line(line: &str) -> Vec<u8> {
    edited(Some(line), &[], &[])
}

/// Feeds `bytes` to a fresh handshake with `config`, in one chunk.
fn recv_with(config: &Config, bytes: &[u8]) -> Result<Option<Request>, RequestError> {
    ServerHandshake::new(config).recv(bytes)
}

/// The request `bytes` hold, which must be complete and valid.
fn parse(bytes: &[u8]) -> Request {
    recv_with(&Config::default(), bytes)
        .expect("a valid request")
        .expect("a complete head")
}

/// The error `bytes` give with `config`, in one chunk.
fn refusal_with(config: &Config, bytes: &[u8]) -> RequestError {
    recv_with(config, bytes).expect_err("the request must be refused")
}

fn refusal(bytes: &[u8]) -> RequestError {
    refusal_with(&Config::default(), bytes)
}

/// The exact answer to `error`: the status line, `Sec-WebSocket-Version: 13`
/// for a 426, the plain-text body naming the problem, `Content-Length` and
/// `Connection: close`.
fn expected_answer(status_line: &str, body: &str, version_header: bool) -> Vec<u8> {
    let version = if version_header {
        "Sec-WebSocket-Version: 13\r\n"
    } else {
        ""
    };
    format!(
        "{status_line}\r\n{version}Content-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Headers from `(name, value)` pairs.
fn headers(fields: &[(&str, &str)]) -> Headers {
    fields.iter().copied().collect()
}

// ----- the accept key and the 101 -----

#[test]
fn rfc_sample_key_gives_the_rfc_accept_value() {
    assert_eq!(&accept_key(KEY.as_bytes()), ACCEPT.as_bytes());
    // A second pair, computed independently (Python's hashlib + base64).
    assert_eq!(
        &accept_key(b"x3JJHMbDL1EzLkh9GBhXDw=="),
        b"HSmrc0sMlYUkAGmm5OPpG2HaGWk="
    );
}

#[test]
fn accepting_a_simple_request_writes_the_exact_101() {
    let request = parse(&request(&[
        "GET /chat HTTP/1.1",
        "Host: server.example.com",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Origin: http://example.com",
        "Sec-WebSocket-Version: 13",
    ]));
    assert_eq!(request.key(), Some(KEY));
    let response = request.accept(&Accept::new()).unwrap();
    assert_eq!(response.status(), 101);
    assert_eq!(response.reason(), "Switching Protocols");
    assert_eq!(response.body_bytes(), b"");
    let expected: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\n\
        Upgrade: websocket\r\n\
        Connection: Upgrade\r\n\
        Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
        \r\n";
    assert_eq!(response.to_bytes(), expected);
    let mut out = b"already written".to_vec();
    response.write_to(&mut out);
    assert_eq!(&out[..15], b"already written");
    assert_eq!(&out[15..], expected);
    let fields: Vec<(&str, &[u8])> = response.headers().iter().collect();
    assert_eq!(
        fields,
        [
            ("Upgrade", &b"websocket"[..]),
            ("Connection", b"Upgrade"),
            ("Sec-WebSocket-Accept", ACCEPT.as_bytes()),
        ]
    );
}

// ----- refusals -----

/// Each malformed request, the error, and its exact answer.
#[test]
fn every_refusal_has_its_exact_status_and_answer() {
    use RequestError as E;
    let mut few_headers = Config::default();
    few_headers.max_headers = 5;
    let cases: Vec<(&str, Vec<u8>, RequestError)> = vec![
        ("POST", request_line("POST /chat HTTP/1.1"), E::WrongMethod),
        (
            "lower-case get",
            request_line("get /chat HTTP/1.1"),
            E::WrongMethod,
        ),
        (
            "HTTP/1.0",
            request_line("GET /chat HTTP/1.0"),
            E::HttpVersion,
        ),
        ("no Host", without("Host"), E::InvalidHost),
        ("two Hosts", with(&["Host: other.example"]), E::InvalidHost),
        ("empty Host", replacing("Host: "), E::InvalidHost),
        ("no Upgrade", without("Upgrade"), E::NotWebSocket),
        ("Upgrade h2c", replacing("Upgrade: h2c"), E::NotWebSocket),
        (
            "Upgrade websocket/13",
            replacing("Upgrade: websocket/13"),
            E::NotWebSocket,
        ),
        (
            "no Connection",
            without("Connection"),
            E::MissingConnectionUpgrade,
        ),
        (
            "Connection without Upgrade",
            replacing("Connection: keep-alive"),
            E::MissingConnectionUpgrade,
        ),
        ("no key", without("Sec-WebSocket-Key"), E::InvalidKey),
        (
            "15-byte key",
            replacing("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25j"),
            E::InvalidKey,
        ),
        (
            "17-byte key",
            replacing("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZSE="),
            E::InvalidKey,
        ),
        (
            "key not base64",
            replacing("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZ!=="),
            E::InvalidKey,
        ),
        (
            "unpadded key",
            replacing("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ"),
            E::InvalidKey,
        ),
        (
            "two keys",
            with(&[&format!("Sec-WebSocket-Key: {KEY}")]),
            E::InvalidKey,
        ),
        (
            "version 8",
            replacing("Sec-WebSocket-Version: 8"),
            E::UnsupportedVersion,
        ),
        (
            "no version",
            without("Sec-WebSocket-Version"),
            E::UnsupportedVersion,
        ),
        (
            "version 13, 8",
            replacing("Sec-WebSocket-Version: 13, 8"),
            E::UnsupportedVersion,
        ),
        (
            "two versions",
            with(&["Sec-WebSocket-Version: 13"]),
            E::UnsupportedVersion,
        ),
        (
            "request line without version",
            request_line("GET /chat"),
            E::Malformed,
        ),
        (
            "request line garbage",
            request_line("\u{1}\u{2} nonsense"),
            E::Malformed,
        ),
        (
            "HTTP/2.0 request line",
            request_line("GET /chat HTTP/2.0"),
            E::Malformed,
        ),
        (
            "field without colon",
            with(&["X-Broken no colon"]),
            E::Malformed,
        ),
        (
            "protocol with a space",
            with(&["Sec-WebSocket-Protocol: chat v1"]),
            E::InvalidProtocols,
        ),
        (
            "protocol with a slash",
            with(&["Sec-WebSocket-Protocol: chat/1"]),
            E::InvalidProtocols,
        ),
        (
            "extension parameter without name",
            with(&["Sec-WebSocket-Extensions: permessage-deflate; =1"]),
            E::InvalidExtensions,
        ),
        (
            "extension quoted value not a token",
            with(&["Sec-WebSocket-Extensions: x; a=\"b c\""]),
            E::InvalidExtensions,
        ),
        (
            "head over the limit",
            with(&[&format!("X-Pad: {}", "a".repeat(17 * 1024))]),
            E::HeadTooLarge { max: 16 * 1024 },
        ),
    ];
    for (what, bytes, expected) in &cases {
        assert_eq!(refusal(bytes), *expected, "{what}");
    }
    // Six fields with a limit of five; the valid five fit.
    assert!(recv_with(&few_headers, &with(&[])).is_ok());
    assert_eq!(
        refusal_with(&few_headers, &with(&["X-Sixth: 6"])),
        E::TooManyHeaders { max: 5 }
    );

    // The one table from error to status and answer.
    let answers = [
        (
            E::Malformed,
            "HTTP/1.1 400 Bad Request",
            "malformed HTTP request",
        ),
        (
            E::WrongMethod,
            "HTTP/1.1 400 Bad Request",
            "a WebSocket request must be a GET (HTTP/1.1) or a CONNECT (HTTP/2)",
        ),
        (
            E::HttpVersion,
            "HTTP/1.1 400 Bad Request",
            "a WebSocket upgrade needs HTTP/1.1",
        ),
        (
            E::InvalidHost,
            "HTTP/1.1 400 Bad Request",
            "missing or invalid Host",
        ),
        (
            E::NotWebSocket,
            "HTTP/1.1 400 Bad Request",
            "not a WebSocket upgrade request",
        ),
        (
            E::MissingConnectionUpgrade,
            "HTTP/1.1 400 Bad Request",
            "Connection header does not list Upgrade",
        ),
        (
            E::InvalidKey,
            "HTTP/1.1 400 Bad Request",
            "missing or invalid Sec-WebSocket-Key",
        ),
        (
            E::UnsupportedVersion,
            "HTTP/1.1 426 Upgrade Required",
            "unsupported Sec-WebSocket-Version",
        ),
        (
            E::InvalidProtocols,
            "HTTP/1.1 400 Bad Request",
            "invalid Sec-WebSocket-Protocol",
        ),
        (
            E::InvalidExtensions,
            "HTTP/1.1 400 Bad Request",
            "invalid Sec-WebSocket-Extensions",
        ),
        (
            E::HeadTooLarge { max: 16384 },
            "HTTP/1.1 431 Request Header Fields Too Large",
            "request head larger than 16384 bytes",
        ),
        (
            E::TooManyHeaders { max: 5 },
            "HTTP/1.1 431 Request Header Fields Too Large",
            "request has more than 5 header fields",
        ),
        (
            E::AlreadyComplete,
            "HTTP/1.1 500 Internal Server Error",
            "input after the handshake completed",
        ),
    ];
    for (error, status_line, body) in answers {
        let status: u16 = status_line[9..12].parse().unwrap();
        assert_eq!(error.status(), status, "{error:?}");
        assert_eq!(error.to_string(), body);
        let response = error.response();
        assert_eq!(response.status(), status);
        assert_eq!(response.body_bytes(), body.as_bytes());
        let is_426 = status == 426;
        assert_eq!(
            response.headers().get_str("Sec-WebSocket-Version"),
            is_426.then_some("13"),
            "{error:?}"
        );
        assert_eq!(
            response.to_bytes(),
            expected_answer(status_line, body, is_426),
            "{error:?}"
        );
    }
}

#[test]
fn too_many_header_fields_is_431_at_the_default_limit() {
    let config = Config::default();
    assert_eq!(config.max_headers, 64);
    // The valid request has five fields: 59 more make 64, which fit.
    let fillers: Vec<String> = (0..60).map(|i| format!("X-Filler-{i}: {i}")).collect();
    let fillers: Vec<&str> = fillers.iter().map(String::as_str).collect();
    let at_limit = parse(&with(&fillers[..59]));
    assert_eq!(at_limit.headers().len(), 64);
    let error = refusal(&with(&fillers));
    assert_eq!(error, RequestError::TooManyHeaders { max: 64 });
    assert_eq!(error.status(), 431);
    assert!(
        error
            .response()
            .to_bytes()
            .starts_with(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    );
}

// ----- stickiness -----

#[test]
fn errors_are_sticky_and_input_after_success_is_already_complete() {
    let config = Config::default();
    let valid = with(&[]);

    let mut failed = ServerHandshake::new(&config);
    let bad = request_line("POST /chat HTTP/1.1");
    assert_eq!(failed.recv(&bad), Err(RequestError::WrongMethod));
    assert_eq!(failed.recv(&valid), Err(RequestError::WrongMethod));
    assert_eq!(failed.recv(b""), Err(RequestError::WrongMethod));

    // A 431 found mid-stream stays too.
    let mut too_large = ServerHandshake::new(&config);
    assert_eq!(too_large.recv(&vec![b'a'; 16 * 1024 - 1]), Ok(None));
    let error = RequestError::HeadTooLarge { max: 16 * 1024 };
    assert_eq!(too_large.recv(b"a"), Err(error));
    assert_eq!(too_large.recv(&valid), Err(error));

    let mut done = ServerHandshake::new(&config);
    assert!(done.recv(&valid).unwrap().is_some());
    for later in [&valid[..], b"\x81\x80", b""] {
        let error = done.recv(later).unwrap_err();
        assert_eq!(error, RequestError::AlreadyComplete);
        assert_eq!(error.status(), 500);
    }
}

// ----- what a valid request carries -----

#[test]
fn header_names_any_case_and_token_lists_are_accepted() {
    let request = parse(&request(&[
        "GET /chat?room=1&x HTTP/1.1",
        "HOST: example.com:8080",
        "UPGRADE: WebSocket",
        "connection: keep-alive, Upgrade",
        &format!("sec-websocket-key: {KEY}"),
        "SEC-WEBSOCKET-VERSION: 13",
        "origin: https://example.com",
    ]));
    assert_eq!(request.method(), "GET");
    assert_eq!(request.version(), HttpVersion::Http11);
    assert_eq!(request.target(), "/chat?room=1&x");
    assert_eq!(request.path(), "/chat");
    assert_eq!(request.query(), Some("room=1&x"));
    assert_eq!(request.host(), "example.com:8080");
    assert_eq!(request.origin(), Some("https://example.com"));
    assert_eq!(request.key(), Some(KEY));
    assert_eq!(request.protocols().count(), 0);
    assert!(request.extensions().is_empty());
    assert_eq!(request.leftover(), b"");
    let names: Vec<&str> = request.headers().iter().map(|(name, _)| name).collect();
    assert_eq!(
        names,
        [
            "HOST",
            "UPGRADE",
            "connection",
            "sec-websocket-key",
            "SEC-WEBSOCKET-VERSION",
            "origin"
        ]
    );
    assert_eq!(
        request.headers().get("Connection"),
        Some(&b"keep-alive, Upgrade"[..])
    );

    // Tokens in other places of the lists, and over several lines.
    for (upgrade, connection) in [
        (
            &["Upgrade: h2c, websocket"][..],
            &["Connection: Upgrade"][..],
        ),
        (
            &["Upgrade: websocket"],
            &["Connection: keep-alive", "Connection: upgrade"],
        ),
        (
            &["Upgrade: ,websocket,"],
            &["Connection: UPGRADE ,keep-alive"],
        ),
    ] {
        let add: Vec<&str> = upgrade.iter().chain(connection).copied().collect();
        let bytes = edited(None, &["Upgrade", "Connection"], &add);
        assert!(
            recv_with(&Config::default(), &bytes).is_ok_and(|r| r.is_some()),
            "{add:?}"
        );
    }

    // Surrounding whitespace of single values is not part of them.
    let spaced = parse(&edited(
        None,
        &["Host", "Sec-WebSocket-Key", "Sec-WebSocket-Version"],
        &[
            "Host:   example.com  ",
            &format!("Sec-WebSocket-Key:\t{KEY} "),
            "Sec-WebSocket-Version:  13 ",
        ],
    ));
    assert_eq!(spaced.host(), "example.com");
    assert_eq!(spaced.key(), Some(KEY));

    // A query-only target, and no query.
    let root = parse(&request_line("GET /?a=b HTTP/1.1"));
    assert_eq!((root.path(), root.query()), ("/", Some("a=b")));
    assert_eq!(parse(&with(&[])).query(), None);
}

#[test]
fn subprotocols_over_two_lines_keep_their_order() {
    let request = parse(&with(&[
        "Sec-WebSocket-Protocol: chat.v2, chat.v1",
        "sec-websocket-protocol: mqtt,, wamp.2.json ",
    ]));
    let offered: Vec<&str> = request.protocols().collect();
    assert_eq!(offered, ["chat.v2", "chat.v1", "mqtt", "wamp.2.json"]);
}

#[test]
fn extension_offers_are_parsed_with_their_parameters() {
    let request = parse(&with(&[
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits; server_max_window_bits=10, permessage-deflate",
        "Sec-WebSocket-Extensions: x-custom; level=\"3\"; MODE = fast",
    ]));
    let offers = request.extensions();
    assert_eq!(offers.len(), 3);
    let names: Vec<&str> = offers.iter().map(Extension::name).collect();
    assert_eq!(
        names,
        ["permessage-deflate", "permessage-deflate", "x-custom"]
    );
    let params: Vec<(&str, Option<&str>)> = offers[0].params().collect();
    assert_eq!(
        params,
        [
            ("client_max_window_bits", None),
            ("server_max_window_bits", Some("10"))
        ]
    );
    assert_eq!(offers[1].params().count(), 0);
    assert_eq!(offers[2].param("level"), Some(Some("3")));
    assert_eq!(offers[2].param("mode"), Some(Some("fast")));
    assert_eq!(offers[2].param("absent"), None);
    assert_eq!(offers[2].to_string(), "x-custom; level=3; MODE=fast");
}

// ----- chunking -----

#[test]
fn a_request_split_anywhere_is_the_same_request() {
    let head = with(&[
        "Origin: http://example.com",
        "Sec-WebSocket-Protocol: chat.v1, chat.v2",
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits",
        "Cookie: session=abc",
    ]);
    let frames = [
        client_frame(true, OP_TEXT, b"hello"),
        client_frame(true, OP_PING, b""),
    ]
    .concat();
    let input = [head.clone(), frames.clone()].concat();
    let mut whole = parse(&input);
    assert_eq!(whole.take_leftover(), frames);
    let config = Config::default();

    for at in 0..=input.len() {
        let (first, second) = input.split_at(at);
        let mut handshake = ServerHandshake::new(&config);
        let first_result = handshake.recv(first).unwrap();
        // The head is reported with the chunk that completes it, not before.
        assert_eq!(first_result.is_some(), at >= head.len(), "split at {at}");
        let (mut request, rest) = match first_result {
            // The second chunk is then connection input, not handshake input.
            Some(request) => (request, second),
            None => (handshake.recv(second).unwrap().unwrap(), &[][..]),
        };
        let leftover = request.take_leftover();
        assert_eq!([&leftover[..], rest].concat(), frames, "split at {at}");
        assert_eq!(request, whole, "split at {at}");
    }

    // One byte at a time: `None` until the last byte of the head.
    let mut handshake = ServerHandshake::new(&config);
    for (i, byte) in head.iter().enumerate() {
        let result = handshake.recv(core::slice::from_ref(byte)).unwrap();
        if i + 1 < head.len() {
            assert!(result.is_none(), "complete early at byte {i}");
        } else {
            assert_eq!(result, Some(whole.clone()));
        }
    }
}

#[test]
fn bare_line_feeds_end_a_head_too() {
    let crlf = with(&[]);
    let lf = String::from_utf8(crlf.clone())
        .unwrap()
        .replace("\r\n", "\n")
        .into_bytes();
    let mut from_lf = parse(&[&lf[..], b"rest"].concat());
    let mut from_crlf = parse(&[&crlf[..], b"rest"].concat());
    assert_eq!(from_lf.take_leftover(), b"rest");
    assert_eq!(from_crlf.take_leftover(), b"rest");
    assert_eq!(from_lf, from_crlf);
}

// ----- the head limit -----

#[test]
fn a_100_kib_head_fails_with_431_as_soon_as_the_limit_is_reached() {
    const CHUNK: usize = 1024;
    let config = Config::default();
    assert_eq!(config.max_handshake_len, 16 * 1024);
    let pad = "a".repeat(1000);
    let fillers: Vec<String> = (0..100).map(|i| format!("X-Pad-{i}: {pad}")).collect();
    let fillers: Vec<&str> = fillers.iter().map(String::as_str).collect();
    let head = with(&fillers);
    assert!(head.len() > 100 * 1000);

    let mut handshake = ServerHandshake::new(&config);
    let mut fed = 0;
    let error = head
        .chunks(CHUNK)
        .find_map(|chunk| {
            fed += chunk.len();
            handshake.recv(chunk).err()
        })
        .expect("the head is refused");
    assert_eq!(error, RequestError::HeadTooLarge { max: 16384 });
    assert_eq!(error.status(), 431);
    // The error arrives with the chunk that reaches 16 KiB: the 16th.
    assert_eq!(fed, 16 * 1024);
    assert!(fed <= config.max_handshake_len + CHUNK);
    assert_eq!(handshake.recv(b"\r\n\r\n"), Err(error));

    // In one chunk, and with chunks that do not divide the limit.
    assert_eq!(refusal(&head), error);
    let mut handshake = ServerHandshake::new(&config);
    let mut fed = 0;
    let error = head
        .chunks(1000)
        .find_map(|chunk| {
            fed += chunk.len();
            handshake.recv(chunk).err()
        })
        .unwrap();
    assert_eq!(error, RequestError::HeadTooLarge { max: 16384 });
    assert_eq!(fed, 17_000);
}

#[test]
fn a_head_of_exactly_the_limit_fits_and_one_more_byte_does_not() {
    let mut config = Config::default();
    config.max_handshake_len = 512;
    let base = with(&["X-Pad: "]).len();
    let exact = with(&[&format!("X-Pad: {}", "p".repeat(512 - base))]);
    assert_eq!(exact.len(), 512);
    let request = recv_with(&config, &[&exact[..], b"\x81"].concat())
        .unwrap()
        .unwrap();
    assert_eq!(request.leftover(), b"\x81");
    let over = with(&[&format!("X-Pad: {}", "p".repeat(513 - base))]);
    assert_eq!(
        refusal_with(&config, &over),
        RequestError::HeadTooLarge { max: 512 }
    );
    // Byte by byte, the limit bites at byte 512, not earlier.
    let mut handshake = ServerHandshake::new(&config);
    for (i, byte) in over.iter().enumerate() {
        let result = handshake.recv(core::slice::from_ref(byte));
        if i + 1 < 512 {
            assert_eq!(result, Ok(None), "byte {i}");
        } else {
            assert_eq!(result, Err(RequestError::HeadTooLarge { max: 512 }));
            break;
        }
    }
}

// ----- leftover bytes -----

#[test]
fn frames_after_the_head_reach_the_connection() {
    let mut client = common::connection(wsproto::Role::Client, Config::default());
    client.send_text("hello").unwrap();
    client.send_ping(b"are you there").unwrap();
    let mut frames = Vec::new();
    client.poll_transmit(&mut frames);
    let input = [with(&[]), frames.clone()].concat();

    let request = parse(&input);
    assert_eq!(request.leftover(), frames);
    let mut streaming = request.clone();
    assert_eq!(streaming.take_leftover(), frames);
    assert_eq!(streaming.leftover(), b"");

    let mut server = request.into_connection(Config::default());
    assert_eq!(server.poll_event(), Ok(Some(Event::Text("hello".into()))));
    assert_eq!(
        server.poll_event(),
        Ok(Some(Event::Control(Control::Ping(
            ControlPayload::new(b"are you there").unwrap()
        ))))
    );
    assert_eq!(server.poll_event(), Ok(None));
    // The automatic pong answers the ping that came with the head.
    let mut sent = Vec::new();
    server.poll_transmit(&mut sent);
    assert_eq!(
        common::sent_frames(&sent),
        [(common::OP_PONG, b"are you there".to_vec())]
    );

    // Without the leftover, the connection has nothing.
    let mut empty = streaming.into_connection(Config::default());
    assert_eq!(empty.poll_event(), Ok(None));
}

#[test]
fn frames_longer_than_the_head_limit_after_the_head_are_all_kept() {
    let mut config = Config::default();
    config.max_handshake_len = 1024;
    let frames = client_frame(true, common::OP_BINARY, &[7u8; 4096]);
    let head = with(&[]);
    let request = recv_with(&config, &[&head[..], &frames[..]].concat())
        .unwrap()
        .unwrap();
    assert_eq!(request.leftover(), frames);
    let mut server = request.into_connection(config);
    assert_eq!(
        server.poll_event(),
        Ok(Some(Event::Binary(vec![7u8; 4096].into())))
    );
}

/// RFC 9112 section 3.2.2: a server MUST accept the absolute-form
/// (`GET http://example.com/chat HTTP/1.1`). `path()` is documented as
/// "the target up to `?` (`/chat`)", and `Request::from_http` gives `/chat`
/// for the same request, but the byte parser gives the whole URI.
#[test]
fn absolute_form_target_has_the_same_path_as_origin_form() {
    let request = parse(&request_line("GET http://example.com/chat?x=1 HTTP/1.1"));
    assert_eq!(request.path(), "/chat");
    assert_eq!(request.query(), Some("x=1"));
    assert_eq!(request.target(), "http://example.com/chat?x=1");
    // The target's authority overrides Host; an empty path is `/`.
    let request = parse(&request_line("GET ws://other.example:81?y HTTP/1.1"));
    assert_eq!(request.host(), "other.example:81");
    assert_eq!((request.path(), request.query()), ("/", Some("y")));
}

// ----- accepting and refusing -----

#[test]
fn accept_writes_the_chosen_protocol_extension_and_headers() {
    let request = parse(&with(&[
        "Sec-WebSocket-Protocol: chat.v2, chat.v1",
        "Sec-WebSocket-Extensions: x-deflate-frame; client_max_window_bits",
    ]));
    let deflate = Extension::new("x-deflate-frame")
        .unwrap()
        .with_param("server_max_window_bits", Some("10"))
        .unwrap();
    let response = request
        .accept(
            &Accept::new()
                .protocol("chat.v1")
                .extension(deflate)
                .header("Set-Cookie", "session=abc; HttpOnly"),
        )
        .unwrap();
    assert_eq!(
        response.to_bytes(),
        format!(
            "HTTP/1.1 101 Switching Protocols\r\n\
             Upgrade: websocket\r\n\
             Connection: Upgrade\r\n\
             Sec-WebSocket-Accept: {ACCEPT}\r\n\
             Sec-WebSocket-Protocol: chat.v1\r\n\
             Sec-WebSocket-Extensions: x-deflate-frame; server_max_window_bits=10\r\n\
             Set-Cookie: session=abc; HttpOnly\r\n\
             \r\n"
        )
        .into_bytes()
    );
    assert_eq!(
        response.headers().get_str("sec-websocket-protocol"),
        Some("chat.v1")
    );
}

#[test]
fn accept_refuses_bad_choices_and_produces_nothing() {
    let request = parse(&with(&[
        "Sec-WebSocket-Protocol: chat.v1",
        "Sec-WebSocket-Extensions: x-deflate-frame",
    ]));
    let cases = [
        (
            Accept::new().protocol("mqtt"),
            BuildError::ProtocolNotOffered("mqtt".into()),
        ),
        (
            Accept::new()
                .extension(Extension::new("x-deflate-frame").unwrap())
                .extension(Extension::new("X-Deflate-Frame").unwrap()),
            BuildError::InvalidExtension("X-Deflate-Frame".into()),
        ),
        (
            Accept::new().extension(Extension::new("x-webkit-deflate-frame").unwrap()),
            BuildError::ExtensionNotOffered("x-webkit-deflate-frame".into()),
        ),
        (
            Accept::new().header("X-Evil", "a\r\nSet-Cookie: injected=1"),
            BuildError::InvalidHeaderValue("X-Evil".into()),
        ),
        (
            Accept::new().header("X-Nul", "a\0b"),
            BuildError::InvalidHeaderValue("X-Nul".into()),
        ),
        (
            Accept::new().header("Bad Name", "1"),
            BuildError::InvalidHeaderName("Bad Name".into()),
        ),
        (
            Accept::new().header("Sec-WebSocket-Accept", ACCEPT),
            BuildError::ReservedHeader("Sec-WebSocket-Accept".into()),
        ),
        (
            Accept::new().header("connection", "close"),
            BuildError::ReservedHeader("connection".into()),
        ),
        (
            Accept::new().header("Sec-WebSocket-Protocol", "chat.v1"),
            BuildError::ReservedHeader("Sec-WebSocket-Protocol".into()),
        ),
        (
            Accept::new().header("Content-Length", "0"),
            BuildError::ReservedHeader("Content-Length".into()),
        ),
    ];
    for (accept, error) in cases {
        assert_eq!(request.accept(&accept), Err(error));
    }
    // A request that offers nothing: any protocol is one not offered.
    let bare = parse(&with(&[]));
    assert_eq!(
        bare.accept(&Accept::new().protocol("chat.v1")),
        Err(BuildError::ProtocolNotOffered("chat.v1".into()))
    );
}

#[test]
fn application_refusals_have_exact_bytes() {
    let forbidden = Response::new(403).unwrap().body("origin not allowed");
    assert_eq!(forbidden.status(), 403);
    assert_eq!(forbidden.body_bytes(), b"origin not allowed");
    assert!(forbidden.headers().is_empty());
    assert_eq!(
        forbidden.to_bytes(),
        b"HTTP/1.1 403 Forbidden\r\nContent-Length: 18\r\nConnection: close\r\n\r\norigin not allowed"
    );

    let unauthorized = Response::new(401)
        .unwrap()
        .header("WWW-Authenticate", "Basic realm=\"chat\"")
        .unwrap();
    assert_eq!(
        unauthorized.headers().get_str("www-authenticate"),
        Some("Basic realm=\"chat\"")
    );
    assert_eq!(
        unauthorized.to_bytes(),
        b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"chat\"\r\n\
          Content-Length: 0\r\nConnection: close\r\n\r\n"
    );

    let not_found = Response::new(404)
        .unwrap()
        .header("Content-Type", "text/plain")
        .unwrap()
        .body(b"no such room".to_vec());
    assert_eq!(
        not_found.to_bytes(),
        b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n\
          Content-Length: 12\r\nConnection: close\r\n\r\nno such room"
    );

    for status in [0, 101, 199, 600] {
        assert_eq!(
            Response::new(status),
            Err(BuildError::InvalidStatus(status))
        );
    }
    let base = Response::new(400).unwrap();
    for reserved in ["Connection", "content-length", "Transfer-Encoding"] {
        assert_eq!(
            base.clone().header(reserved, "x"),
            Err(BuildError::ReservedHeader(reserved.into()))
        );
    }
    assert_eq!(
        base.header("Location", "/a\r\n\r\n<html>"),
        Err(BuildError::InvalidHeaderValue("Location".into()))
    );
}

// ----- RFC 8441: WebSocket over HTTP/2 -----

#[test]
fn extended_connect_is_accepted_with_200_and_no_key() {
    let fields = headers(&[
        ("sec-websocket-version", "13"),
        ("sec-websocket-protocol", "chat.v1, chat.v2"),
        ("origin", "https://example.com"),
    ]);
    let request =
        Request::from_extended_connect("CONNECT", "websocket", "example.com", "/chat?x=1", fields)
            .unwrap();
    assert_eq!(request.method(), "CONNECT");
    assert_eq!(request.version(), HttpVersion::Http2);
    assert_eq!(request.host(), "example.com");
    assert_eq!((request.path(), request.query()), ("/chat", Some("x=1")));
    assert_eq!(request.key(), None);
    assert_eq!(request.origin(), Some("https://example.com"));
    let offered: Vec<&str> = request.protocols().collect();
    assert_eq!(offered, ["chat.v1", "chat.v2"]);

    let plain = request.accept(&Accept::new()).unwrap();
    assert_eq!(plain.status(), 200);
    assert!(plain.headers().is_empty());
    assert_eq!(plain.to_bytes(), b"HTTP/1.1 200 OK\r\n\r\n");

    let chosen = request.accept(&Accept::new().protocol("chat.v2")).unwrap();
    assert_eq!(chosen.status(), 200);
    let fields: Vec<(&str, &[u8])> = chosen.headers().iter().collect();
    assert_eq!(fields, [("Sec-WebSocket-Protocol", &b"chat.v2"[..])]);
    for absent in ["Sec-WebSocket-Accept", "Upgrade", "Connection"] {
        assert_eq!(chosen.headers().get(absent), None);
    }
    assert_eq!(
        request.accept(&Accept::new().header("Upgrade", "websocket")),
        Err(BuildError::ReservedHeader("Upgrade".into()))
    );
}

#[test]
fn extended_connect_refusals() {
    let version = || headers(&[("sec-websocket-version", "13")]);
    let cases = [
        (
            ("GET", "websocket", "example.com"),
            version(),
            RequestError::WrongMethod,
        ),
        (
            ("CONNECT", "h2c", "example.com"),
            version(),
            RequestError::NotWebSocket,
        ),
        (
            ("CONNECT", "websocket", ""),
            version(),
            RequestError::InvalidHost,
        ),
        (
            ("CONNECT", "websocket", "example.com"),
            headers(&[]),
            RequestError::UnsupportedVersion,
        ),
        (
            ("CONNECT", "websocket", "example.com"),
            headers(&[("sec-websocket-version", "8")]),
            RequestError::UnsupportedVersion,
        ),
        (
            ("CONNECT", "websocket", "example.com"),
            headers(&[
                ("sec-websocket-version", "13"),
                ("sec-websocket-protocol", "a b"),
            ]),
            RequestError::InvalidProtocols,
        ),
    ];
    for ((method, protocol, authority), fields, expected) in cases {
        let error =
            Request::from_extended_connect(method, protocol, authority, "/chat", fields.clone())
                .unwrap_err();
        assert_eq!(
            error, expected,
            "{method} {protocol} {authority} {fields:?}"
        );
    }
    let missing =
        Request::from_extended_connect("CONNECT", "websocket", "a", "/", headers(&[])).unwrap_err();
    assert_eq!(missing.status(), 426);
    assert_eq!(
        missing
            .response()
            .headers()
            .get_str("Sec-WebSocket-Version"),
        Some("13")
    );
    // The protocol name is compared without regard to case.
    assert!(Request::from_extended_connect("CONNECT", "WebSocket", "a", "/", version()).is_ok());
}

// ----- handover from parts -----

/// Splits a head built by [`request`] into the parts another HTTP server
/// would have parsed.
fn parts_of(bytes: &[u8]) -> (String, String, HttpVersion, Headers) {
    let text = core::str::from_utf8(bytes).unwrap();
    let mut lines = text.trim_end_matches("\r\n").split("\r\n");
    let mut request_line = lines.next().unwrap().split(' ');
    let method = request_line.next().unwrap().to_owned();
    let target = request_line.next().unwrap().to_owned();
    let version = match request_line.next().unwrap() {
        "HTTP/1.0" => HttpVersion::Http10,
        "HTTP/1.1" => HttpVersion::Http11,
        other => panic!("unexpected version {other}"),
    };
    let headers = lines
        .map(|line| {
            let (name, value) = line.split_once(':').unwrap();
            (name.to_owned(), value.trim().as_bytes().to_vec())
        })
        .collect();
    (method, target, version, headers)
}

#[test]
fn from_parts_validates_exactly_like_the_parser() {
    let cases = [
        with(&[]),
        with(&[
            "Sec-WebSocket-Protocol: chat.v2, chat.v1",
            "Origin: http://a",
        ]),
        with(&["Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"]),
        edited(
            Some("GET /chat?room=1 HTTP/1.1"),
            &[],
            &["Cookie: a=1", "cookie: b=2"],
        ),
        request_line("POST /chat HTTP/1.1"),
        request_line("GET /chat HTTP/1.0"),
        without("Host"),
        with(&["Host: b.example"]),
        replacing("Upgrade: h2c"),
        replacing("Connection: keep-alive"),
        replacing("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25j"),
        replacing("Sec-WebSocket-Version: 8"),
        without("Sec-WebSocket-Version"),
        with(&["Sec-WebSocket-Protocol: chat v1"]),
        with(&["Sec-WebSocket-Extensions: x;"]),
    ];
    let mut accepted = 0;
    for bytes in &cases {
        let parsed = recv_with(&Config::default(), bytes).map(Option::unwrap);
        let (method, target, version, headers) = parts_of(bytes);
        let from_parts = Request::from_parts(&method, &target, version, headers);
        assert_eq!(
            from_parts,
            parsed,
            "{}",
            String::from_utf8_lossy(bytes).lines().next().unwrap()
        );
        if let Ok(request) = &from_parts {
            accepted += 1;
            let parsed = parsed.as_ref().unwrap();
            assert_eq!(
                request.accept(&Accept::new()).unwrap().to_bytes(),
                parsed.accept(&Accept::new()).unwrap().to_bytes()
            );
        }
    }
    assert_eq!(accepted, 4);

    // HTTP/2 is not a version `from_parts` accepts (that is extended CONNECT).
    let (method, target, _, headers) = parts_of(&with(&[]));
    assert_eq!(
        Request::from_parts(&method, &target, HttpVersion::Http2, headers),
        Err(RequestError::HttpVersion)
    );
}

// ----- the `http` crate -----

#[cfg(feature = "http")]
mod http_types {
    use super::*;

    fn upgrade_request(version: http::Version) -> http::Request<()> {
        http::Request::get("/chat?room=1")
            .version(version)
            .header("Host", "example.com")
            .header("Upgrade", "websocket")
            .header("Connection", "Upgrade")
            .header("Sec-WebSocket-Key", KEY)
            .header("Sec-WebSocket-Version", "13")
            .header("Sec-WebSocket-Protocol", "chat.v1")
            .header("Cookie", "session=abc")
            .body(())
            .unwrap()
    }

    #[test]
    fn from_http_accepts_with_a_101_carrying_the_accept_key() {
        let request = Request::from_http(&upgrade_request(http::Version::HTTP_11)).unwrap();
        assert_eq!(request.target(), "/chat?room=1");
        assert_eq!(request.host(), "example.com");
        assert_eq!(request.headers().get_str("Cookie"), Some("session=abc"));
        let response = request
            .accept(
                &Accept::new()
                    .protocol("chat.v1")
                    .header("Set-Cookie", "seen=1"),
            )
            .unwrap()
            .to_http();
        assert_eq!(response.status(), http::StatusCode::SWITCHING_PROTOCOLS);
        let fields: Vec<(&str, &[u8])> = response
            .headers()
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_bytes()))
            .collect();
        assert_eq!(
            fields,
            [
                ("upgrade", &b"websocket"[..]),
                ("connection", b"Upgrade"),
                ("sec-websocket-accept", ACCEPT.as_bytes()),
                ("sec-websocket-protocol", b"chat.v1"),
                ("set-cookie", b"seen=1"),
            ]
        );
    }

    #[test]
    fn from_http_refuses_http_1_0_and_bad_requests() {
        for version in [http::Version::HTTP_10, http::Version::HTTP_09] {
            assert_eq!(
                Request::from_http(&upgrade_request(version)),
                Err(RequestError::HttpVersion)
            );
        }
        let post = http::Request::post("/chat")
            .header("Host", "example.com")
            .body(())
            .unwrap();
        assert_eq!(Request::from_http(&post), Err(RequestError::WrongMethod));
        let old = http::Request::get("/")
            .header("Host", "example.com")
            .header("Upgrade", "websocket")
            .header("Connection", "Upgrade")
            .header("Sec-WebSocket-Key", KEY)
            .header("Sec-WebSocket-Version", "8")
            .body(())
            .unwrap();
        let error = Request::from_http(&old).unwrap_err();
        assert_eq!(error, RequestError::UnsupportedVersion);
        let refusal = error.response().to_http();
        assert_eq!(refusal.status(), http::StatusCode::UPGRADE_REQUIRED);
        assert_eq!(refusal.headers()["sec-websocket-version"], "13");
    }

    #[test]
    fn from_http_extended_connect_gives_200() {
        let incoming = http::Request::connect("https://example.com/chat")
            .version(http::Version::HTTP_2)
            .header("sec-websocket-version", "13")
            .header("sec-websocket-protocol", "chat.v1")
            .body(())
            .unwrap();
        let request = Request::from_http_extended_connect(&incoming, "websocket").unwrap();
        assert_eq!(request.version(), HttpVersion::Http2);
        assert_eq!(request.host(), "example.com");
        assert_eq!(request.path(), "/chat");
        assert_eq!(request.key(), None);
        let response = request
            .accept(&Accept::new().protocol("chat.v1"))
            .unwrap()
            .to_http();
        assert_eq!(response.status(), http::StatusCode::OK);
        assert_eq!(response.headers().len(), 1);
        assert_eq!(response.headers()["sec-websocket-protocol"], "chat.v1");
        assert_eq!(
            Request::from_http_extended_connect(&incoming, "h2c"),
            Err(RequestError::NotWebSocket)
        );
    }

    #[test]
    fn refusal_to_http_keeps_status_and_fields() {
        let response = Response::new(401)
            .unwrap()
            .header("WWW-Authenticate", "Bearer")
            .unwrap()
            .body("log in first")
            .to_http();
        assert_eq!(response.status(), http::StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers().len(), 1);
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
    }
}
