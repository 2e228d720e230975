//! The client side of the opening handshake (RFC 6455 section 4.1) through
//! the public API: the exact request bytes, URL refusals, every check of the
//! server's response, and a client and a server upgrading each other and
//! exchanging messages. The server side is in `handshake.rs`.

#![cfg(feature = "std")]

use crate::common;

use common::{OP_TEXT, ScriptedEntropy, server_frame};
use wsproto::handshake::{
    Accept, BuildError, ClientHandshake, ClientRequest, Extension, ResponseErrorKind,
    ServerHandshake, Upgraded, UrlError,
};
use wsproto::{Config, Connection, Event, Role};

/// The nonce of RFC 6455 section 1.3, its key and the key's accept value.
const NONCE: &[u8; 16] = b"the sample nonce";
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// A handshake whose key is [`KEY`] (the entropy source then goes on with
/// a fixed sequence for the connection's masks).
fn handshake(request: &ClientRequest) -> ClientHandshake {
    ClientHandshake::with_entropy(
        request,
        Config::default(),
        Box::new(ScriptedEntropy::new(NONCE)),
    )
    .expect("a valid request")
}

/// A client offering the subprotocols `chat.v1` and `chat.v2` and the
/// extension `x-deflate-frame`.
fn offering_client() -> ClientHandshake {
    let request = ClientRequest::new("ws://example.com/chat")
        .unwrap()
        .protocol("chat.v1")
        .protocol("chat.v2")
        .extension(Extension::new("x-deflate-frame").unwrap());
    handshake(&request)
}

/// A response head: the lines joined with CRLF, then the blank line.
fn response(lines: &[&str]) -> Vec<u8> {
    let mut head = lines.join("\r\n");
    head.push_str("\r\n\r\n");
    head.into_bytes()
}

/// A valid 101 for [`KEY`] with the lines `add` appended.
fn switching(add: &[&str]) -> Vec<u8> {
    let accept = format!("Sec-WebSocket-Accept: {ACCEPT}");
    let mut lines = vec![
        "HTTP/1.1 101 Switching Protocols",
        "Upgrade: websocket",
        "Connection: Upgrade",
        &accept,
    ];
    lines.extend_from_slice(add);
    response(&lines)
}

/// The upgrade `bytes` (in one chunk) give `client`, which must succeed.
fn upgrade(client: &mut ClientHandshake, bytes: &[u8]) -> Upgraded {
    client
        .recv(bytes)
        .expect("an accepted response")
        .expect("a complete head")
}

/// Moves every pending byte from `from` to `to` and returns `to`'s events.
fn deliver(from: &mut Connection, to: &mut Connection) -> Vec<Event> {
    let mut wire = Vec::new();
    from.poll_transmit(&mut wire);
    to.recv(&wire);
    let mut events = Vec::new();
    while let Some(event) = to.poll_event().unwrap() {
        events.push(event);
    }
    events
}

// ----- the request -----

#[test]
fn request_bytes_are_exact() {
    let request = ClientRequest::new("ws://example.com:9001/chat?x=1")
        .unwrap()
        .protocol("chat.v1")
        .protocol("chat.v2")
        .origin("http://example.com")
        .header("Cookie", "session=abc");
    assert_eq!(
        (request.host(), request.port(), request.is_tls()),
        ("example.com", 9001, false)
    );
    assert_eq!(request.resource(), "/chat?x=1");
    let client = handshake(&request);
    let expected = format!(
        "GET /chat?x=1 HTTP/1.1\r\n\
         Host: example.com:9001\r\n\
         Upgrade: websocket\r\n\
         Connection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\n\
         Sec-WebSocket-Version: 13\r\n\
         Origin: http://example.com\r\n\
         Sec-WebSocket-Protocol: chat.v1, chat.v2\r\n\
         Cookie: session=abc\r\n\
         \r\n"
    );
    assert_eq!(
        String::from_utf8_lossy(client.request_bytes()),
        expected.as_str()
    );

    // The extension offer is written with its parameters.
    let deflate = Extension::new("x-deflate-frame")
        .unwrap()
        .with_param("client_max_window_bits", None)
        .unwrap();
    let with_extension = handshake(
        &ClientRequest::new("wss://example.com")
            .unwrap()
            .extension(deflate),
    );
    assert_eq!(
        String::from_utf8_lossy(with_extension.request_bytes()),
        format!(
            "GET / HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\n\
             Sec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Extensions: x-deflate-frame; client_max_window_bits\r\n\r\n"
        )
    );
}

#[test]
fn host_header_carries_the_port_only_when_it_is_not_the_default() {
    let cases = [
        ("ws://example.com:80/", "example.com", 80, false, "/"),
        ("ws://example.com", "example.com", 80, false, "/"),
        ("ws://example.com:443/", "example.com:443", 443, false, "/"),
        ("wss://example.com:443/a", "example.com", 443, true, "/a"),
        ("wss://example.com:80/a", "example.com:80", 80, true, "/a"),
        ("WS://example.com?q", "example.com", 80, false, "/?q"),
        ("ws://[::1]:9001/", "[::1]:9001", 9001, false, "/"),
        ("ws://[::1]/", "[::1]", 80, false, "/"),
        ("ws://127.0.0.1:8080", "127.0.0.1:8080", 8080, false, "/"),
    ];
    for (url, host_header, port, tls, resource) in cases {
        let request = ClientRequest::new(url).unwrap();
        assert_eq!(
            (request.port(), request.is_tls(), request.resource()),
            (port, tls, resource),
            "{url}"
        );
        let bytes = handshake(&request).request_bytes().to_vec();
        let text = String::from_utf8(bytes).unwrap();
        let expected_start = format!("GET {resource} HTTP/1.1\r\nHost: {host_header}\r\n");
        assert!(text.starts_with(&expected_start), "{url}: {text}");
    }
    assert_eq!(
        ClientRequest::new("ws://[::1]:9001/").unwrap().host(),
        "::1"
    );
}

#[test]
fn url_errors() {
    let cases = [
        ("http://example.com/", UrlError::Scheme),
        ("https://example.com/", UrlError::Scheme),
        ("example.com/chat", UrlError::Scheme),
        ("ws://example.com/chat#top", UrlError::Fragment),
        ("ws://example.com#", UrlError::Fragment),
        ("ws://user:secret@example.com/", UrlError::UserInfo),
        ("ws://user@example.com/", UrlError::UserInfo),
        ("ws://example.com:0/", UrlError::InvalidPort),
        ("ws://example.com:65536/", UrlError::InvalidPort),
        ("ws://example.com:http/", UrlError::InvalidPort),
        ("ws://example.com:-1/", UrlError::InvalidPort),
        ("ws:///chat", UrlError::InvalidHost),
        ("ws://exa mple.com/", UrlError::InvalidHost),
        ("ws://[::1/", UrlError::InvalidHost),
        ("ws://example.com/a b", UrlError::InvalidPath),
        ("ws://example.com/caf\u{e9}", UrlError::InvalidPath),
    ];
    for (url, error) in cases {
        assert_eq!(
            ClientRequest::new(url),
            Err(BuildError::InvalidUrl(error)),
            "{url}"
        );
    }
}

#[test]
fn bad_request_parts_are_refused_before_any_byte_is_written() {
    let base = || ClientRequest::new("ws://example.com/").unwrap();
    let cases = [
        (
            base().header("Host", "evil.example"),
            BuildError::ReservedHeader("Host".into()),
        ),
        (
            base().header("sec-websocket-key", KEY),
            BuildError::ReservedHeader("sec-websocket-key".into()),
        ),
        (
            base().header("Cookie", "a=1\r\nX-Injected: 1"),
            BuildError::InvalidHeaderValue("Cookie".into()),
        ),
        (
            base().header("Bad:Name", "1"),
            BuildError::InvalidHeaderName("Bad:Name".into()),
        ),
        (
            base().origin("http://a\r\nX: 1"),
            BuildError::InvalidHeaderValue("Origin".into()),
        ),
        (
            base().protocol("chat v1"),
            BuildError::InvalidProtocol("chat v1".into()),
        ),
        (base().protocol(""), BuildError::InvalidProtocol("".into())),
    ];
    for (request, error) in cases {
        let result = ClientHandshake::with_entropy(
            &request,
            Config::default(),
            Box::new(ScriptedEntropy::new(NONCE)),
        );
        assert_eq!(result.map(|_| ()).unwrap_err(), error);
    }
}

// ----- client and server together -----

#[test]
fn client_and_server_upgrade_each_other_and_exchange_messages() {
    let request = ClientRequest::new("ws://example.com:9001/chat?room=1")
        .unwrap()
        .protocol("chat.v2")
        .protocol("chat.v1")
        .origin("http://example.com")
        .header("Cookie", "session=abc");
    let mut client = handshake(&request);

    let config = Config::default();
    let mut server = ServerHandshake::new(&config);
    let offer = server
        .recv(client.request_bytes())
        .unwrap()
        .expect("the whole request");
    assert_eq!(offer.path(), "/chat");
    assert_eq!(offer.query(), Some("room=1"));
    assert_eq!(offer.host(), "example.com:9001");
    assert_eq!(offer.origin(), Some("http://example.com"));
    assert_eq!(offer.headers().get_str("cookie"), Some("session=abc"));
    assert_eq!(offer.key(), Some(KEY));
    let offered: Vec<&str> = offer.protocols().collect();
    assert_eq!(offered, ["chat.v2", "chat.v1"]);

    let response = offer
        .accept(
            &Accept::new()
                .protocol("chat.v1")
                .header("Set-Cookie", "seen=1"),
        )
        .unwrap();
    let upgraded = upgrade(&mut client, &response.to_bytes());
    assert_eq!(upgraded.protocol(), Some("chat.v1"));
    assert!(upgraded.extensions().is_empty());
    assert_eq!(upgraded.leftover(), b"");
    assert_eq!(upgraded.response().status(), 101);
    assert_eq!(
        upgraded.response().headers().get_str("set-cookie"),
        Some("seen=1")
    );
    assert_eq!(upgraded.response(), &response);

    let mut client = upgraded.into_connection();
    let mut server = offer.into_connection(config);
    assert_eq!(client.role(), Role::Client);
    assert_eq!(server.role(), Role::Server);
    client.send_text("hello from the client").unwrap();
    assert_eq!(
        deliver(&mut client, &mut server),
        [Event::Text("hello from the client".into())]
    );
    server.send_text("hello from the server").unwrap();
    assert_eq!(
        deliver(&mut server, &mut client),
        [Event::Text("hello from the server".into())]
    );
}

#[test]
fn server_frames_in_the_same_chunk_as_the_101_reach_the_client() {
    let mut client = offering_client();
    let config = Config::default();
    let offer = ServerHandshake::new(&config)
        .recv(client.request_bytes())
        .unwrap()
        .unwrap();
    let deflate = Extension::new("x-deflate-frame").unwrap();
    let response = offer
        .accept(&Accept::new().extension(deflate.clone()))
        .unwrap();
    let mut server = offer.into_connection(config);
    server.send_text("welcome").unwrap();
    server.send_binary(&[1, 2, 3]).unwrap();
    let mut frames = Vec::new();
    server.poll_transmit(&mut frames);

    let mut input = response.to_bytes();
    input.extend_from_slice(&frames);
    let upgraded = upgrade(&mut client, &input);
    assert_eq!(upgraded.protocol(), None);
    assert_eq!(upgraded.extensions(), [deflate]);
    assert_eq!(upgraded.leftover(), frames);

    let mut streaming = upgrade(&mut offering_client(), &input);
    assert_eq!(streaming.take_leftover(), frames);
    assert_eq!(streaming.leftover(), b"");

    let mut connection = upgraded.into_connection();
    assert_eq!(
        connection.poll_event(),
        Ok(Some(Event::Text("welcome".into())))
    );
    assert_eq!(
        connection.poll_event(),
        Ok(Some(Event::Binary(vec![1, 2, 3].into())))
    );
    assert_eq!(connection.poll_event(), Ok(None));
}

#[test]
fn a_tampered_accept_key_is_refused() {
    let mut client = offering_client();
    let offer = ServerHandshake::new(&Config::default())
        .recv(client.request_bytes())
        .unwrap()
        .unwrap();
    let mut bytes = offer.accept(&Accept::new()).unwrap().to_bytes();
    let at = bytes
        .windows(ACCEPT.len())
        .position(|window| window == ACCEPT.as_bytes())
        .expect("the accept value is in the response");
    bytes[at + 5] = b'X'; // 'L' -> 'X'
    let error = client.recv(&bytes).unwrap_err();
    assert_eq!(error.kind(), ResponseErrorKind::InvalidAccept);
    assert_eq!(error.status(), Some(101));
    assert_eq!(
        error
            .response()
            .unwrap()
            .headers()
            .get_str("Sec-WebSocket-Accept"),
        Some("s3pPLXBiTxaQ9kYGzzhZRbK+xOo=")
    );
    // Sticky.
    assert_eq!(client.recv(&switching(&[])).unwrap_err(), error);
}

// ----- every check of the response -----

#[test]
fn refusals_keep_the_status_headers_and_body() {
    let mut client = offering_client();
    let mut input = response(&[
        "HTTP/1.1 302 Found",
        "Location: wss://example.com/chat",
        "Content-Length: 5",
    ]);
    input.extend_from_slice(b"moved");
    let error = client.recv(&input).unwrap_err();
    assert_eq!(error.kind(), ResponseErrorKind::NotSwitching);
    assert_eq!(error.status(), Some(302));
    let received = error.response().unwrap();
    assert_eq!(received.reason(), "Found");
    assert_eq!(
        received.headers().get_str("location"),
        Some("wss://example.com/chat")
    );
    assert_eq!(received.body_bytes(), b"moved");
    assert_eq!(
        error.to_string(),
        "server refused the upgrade (status 302 Found)"
    );

    let mut client = offering_client();
    let error = client
        .recv(&response(&[
            "HTTP/1.1 401 Unauthorized",
            "WWW-Authenticate: Basic realm=\"chat\"",
            "Content-Length: 0",
        ]))
        .unwrap_err();
    assert_eq!(error.kind(), ResponseErrorKind::NotSwitching);
    assert_eq!(error.status(), Some(401));
    let received = error.response().unwrap();
    assert_eq!(
        received.headers().get_str("WWW-Authenticate"),
        Some("Basic realm=\"chat\"")
    );
    assert_eq!(received.body_bytes(), b"");
    // Sticky, and the received response stays available.
    assert_eq!(client.recv(&switching(&[])).unwrap_err(), error);
}

#[test]
fn every_response_check_has_its_error_kind() {
    use ResponseErrorKind as K;
    let accept = format!("Sec-WebSocket-Accept: {ACCEPT}");
    let wrong_accept = format!("Sec-WebSocket-Accept: {}", "A".repeat(27) + "=");
    let cases: Vec<(&str, Vec<u8>, K, Option<u16>)> = vec![
        (
            "missing Upgrade",
            response(&[
                "HTTP/1.1 101 Switching Protocols",
                "Connection: Upgrade",
                &accept,
            ]),
            K::NotWebSocket,
            Some(101),
        ),
        (
            "Upgrade h2c",
            response(&[
                "HTTP/1.1 101 Switching Protocols",
                "Upgrade: h2c",
                "Connection: Upgrade",
                &accept,
            ]),
            K::NotWebSocket,
            Some(101),
        ),
        (
            "missing Connection",
            response(&[
                "HTTP/1.1 101 Switching Protocols",
                "Upgrade: websocket",
                &accept,
            ]),
            K::MissingConnectionUpgrade,
            Some(101),
        ),
        (
            "Connection keep-alive",
            response(&[
                "HTTP/1.1 101 Switching Protocols",
                "Upgrade: websocket",
                "Connection: keep-alive",
                &accept,
            ]),
            K::MissingConnectionUpgrade,
            Some(101),
        ),
        (
            "missing accept",
            response(&[
                "HTTP/1.1 101 Switching Protocols",
                "Upgrade: websocket",
                "Connection: Upgrade",
            ]),
            K::InvalidAccept,
            Some(101),
        ),
        (
            "two accepts",
            switching(&[&accept]),
            K::InvalidAccept,
            Some(101),
        ),
        (
            "wrong accept",
            response(&[
                "HTTP/1.1 101 Switching Protocols",
                "Upgrade: websocket",
                "Connection: Upgrade",
                &wrong_accept,
            ]),
            K::InvalidAccept,
            Some(101),
        ),
        (
            "protocol not offered",
            switching(&["Sec-WebSocket-Protocol: mqtt"]),
            K::ProtocolNotOffered,
            Some(101),
        ),
        (
            "protocol in another case",
            switching(&["Sec-WebSocket-Protocol: CHAT.V1"]),
            K::ProtocolNotOffered,
            Some(101),
        ),
        (
            "two protocols",
            switching(&["Sec-WebSocket-Protocol: chat.v1, chat.v2"]),
            K::ProtocolNotOffered,
            Some(101),
        ),
        (
            "two protocol lines",
            switching(&[
                "Sec-WebSocket-Protocol: chat.v1",
                "Sec-WebSocket-Protocol: chat.v1",
            ]),
            K::ProtocolNotOffered,
            Some(101),
        ),
        (
            "extension not offered",
            switching(&["Sec-WebSocket-Extensions: x-webkit-deflate-frame"]),
            K::ExtensionNotOffered,
            Some(101),
        ),
        (
            "extension twice",
            switching(&["Sec-WebSocket-Extensions: x-deflate-frame, x-deflate-frame"]),
            K::ExtensionNotOffered,
            Some(101),
        ),
        (
            "malformed extension",
            switching(&["Sec-WebSocket-Extensions: x-deflate-frame;"]),
            K::ExtensionNotOffered,
            Some(101),
        ),
        (
            "HTTP/1.0 101",
            response(&[
                "HTTP/1.0 101 Switching Protocols",
                "Upgrade: websocket",
                "Connection: Upgrade",
                &accept,
            ]),
            K::HttpVersion,
            Some(101),
        ),
        (
            "503",
            response(&["HTTP/1.1 503 Service Unavailable", "Retry-After: 5"]),
            K::NotSwitching,
            Some(503),
        ),
        (
            "not HTTP",
            response(&["SSH-2.0-OpenSSH_9.6"]),
            K::Malformed,
            None,
        ),
        (
            "status not a number",
            response(&["HTTP/1.1 1O1 Switching"]),
            K::Malformed,
            None,
        ),
        (
            "head over the limit",
            switching(&[&format!("X-Pad: {}", "a".repeat(17 * 1024))]),
            K::HeadTooLarge,
            None,
        ),
    ];
    for (what, bytes, kind, status) in cases {
        let mut client = offering_client();
        let error = client.recv(&bytes).unwrap_err();
        assert_eq!((error.kind(), error.status()), (kind, status), "{what}");
        assert_eq!(error.response().is_some(), status.is_some(), "{what}");
        assert_eq!(
            client.recv(&switching(&[])).unwrap_err(),
            error,
            "{what}: sticky"
        );
    }

    // The same responses that pass: each offered choice on its own.
    for add in [
        &["Sec-WebSocket-Protocol: chat.v2"][..],
        &["Sec-WebSocket-Extensions: X-DEFLATE-FRAME; server_no_context_takeover"],
        &["Upgrade: h2c", "Connection: keep-alive"],
    ] {
        let mut client = offering_client();
        assert!(
            client.recv(&switching(add)).is_ok_and(|u| u.is_some()),
            "{add:?}"
        );
    }
    let chosen = upgrade(
        &mut offering_client(),
        &switching(&["Sec-WebSocket-Extensions: x-deflate-frame; server_max_window_bits=10"]),
    );
    assert_eq!(
        chosen.extensions()[0].param("server_max_window_bits"),
        Some(Some("10"))
    );

    // A protocol when none was offered.
    let mut plain = handshake(&ClientRequest::new("ws://example.com/").unwrap());
    let error = plain
        .recv(&switching(&["Sec-WebSocket-Protocol: chat.v1"]))
        .unwrap_err();
    assert_eq!(error.kind(), ResponseErrorKind::ProtocolNotOffered);
}

#[test]
fn too_many_response_fields() {
    let mut config = Config::default();
    config.max_headers = 4;
    let mut client = ClientHandshake::with_entropy(
        &ClientRequest::new("ws://example.com/").unwrap(),
        config,
        Box::new(ScriptedEntropy::new(NONCE)),
    )
    .unwrap();
    let error = client
        .recv(&switching(&["Server: test", "Date: today"]))
        .unwrap_err();
    assert_eq!(error.kind(), ResponseErrorKind::TooManyHeaders);
    assert_eq!(error.status(), None);
}

#[test]
fn a_response_head_over_the_limit_fails_when_the_limit_is_reached() {
    let mut client = offering_client();
    let mut fed = 0;
    let head = switching(&[&format!("X-Pad: {}", "a".repeat(100 * 1024))]);
    let error = head
        .chunks(1024)
        .find_map(|chunk| {
            fed += chunk.len();
            client.recv(chunk).err()
        })
        .expect("refused");
    assert_eq!(error.kind(), ResponseErrorKind::HeadTooLarge);
    assert_eq!(fed, 16 * 1024);
}

#[test]
fn a_response_split_anywhere_gives_the_same_upgrade() {
    let mut frames = server_frame(true, OP_TEXT, b"hi");
    frames.extend_from_slice(&server_frame(true, OP_TEXT, b"there"));
    let head = switching(&[
        "Sec-WebSocket-Protocol: chat.v2",
        "Sec-WebSocket-Extensions: x-deflate-frame",
        "Set-Cookie: a=1",
    ]);
    let input = [head.clone(), frames.clone()].concat();
    let whole = upgrade(&mut offering_client(), &input);
    assert_eq!(whole.leftover(), frames);

    for at in 0..=input.len() {
        let (first, second) = input.split_at(at);
        let mut client = offering_client();
        let first_result = client.recv(first).unwrap();
        assert_eq!(first_result.is_some(), at >= head.len(), "split at {at}");
        let (mut upgraded, rest) = match first_result {
            Some(upgraded) => (upgraded, second),
            None => (client.recv(second).unwrap().unwrap(), &[][..]),
        };
        assert_eq!(upgraded.response(), whole.response(), "split at {at}");
        assert_eq!(upgraded.protocol(), Some("chat.v2"));
        assert_eq!(upgraded.extensions(), whole.extensions());
        let leftover = upgraded.take_leftover();
        assert_eq!([&leftover[..], rest].concat(), frames, "split at {at}");
        // Whatever the split, the connection sees both messages.
        let mut connection = upgraded.into_connection();
        connection.recv(&leftover);
        connection.recv(rest);
        assert_eq!(connection.poll_event(), Ok(Some(Event::Text("hi".into()))));
        assert_eq!(
            connection.poll_event(),
            Ok(Some(Event::Text("there".into())))
        );
    }

    // One byte at a time.
    let mut client = offering_client();
    for (i, byte) in head.iter().enumerate() {
        let result = client.recv(core::slice::from_ref(byte)).unwrap();
        assert_eq!(result.is_some(), i + 1 == head.len(), "byte {i}");
    }
}

#[test]
fn a_failing_entropy_source_is_a_build_error() {
    struct Broken;
    impl wsproto::EntropySource for Broken {
        fn fill(&mut self, _: &mut [u8]) -> Result<(), wsproto::EntropyError> {
            Err(wsproto::EntropyError::new(Some(5)))
        }
    }
    let request = ClientRequest::new("ws://example.com/").unwrap();
    let result = ClientHandshake::with_entropy(&request, Config::default(), Box::new(Broken));
    assert_eq!(
        result.map(|_| ()).unwrap_err(),
        BuildError::Entropy(wsproto::EntropyError::new(Some(5)))
    );
}

/// RFC 9110 section 15.2: "A client MUST be able to parse one or more 1xx
/// responses received prior to a final response, even if the client does
/// not expect one." A `100 Continue` before the `101` is taken as the
/// answer: `NotSwitching` with status 100, and the real 101 ends up in
/// `body_bytes`.
#[test]

fn an_interim_1xx_response_before_the_101_is_skipped() {
    let mut client = offering_client();
    let mut input = b"HTTP/1.1 100 Continue\r\n\r\n".to_vec();
    input.extend_from_slice(&switching(&[]));
    let upgraded = client.recv(&input).expect("the 101 is accepted");
    assert_eq!(upgraded.expect("complete").response().status(), 101);

    // Two interim responses, then the 101 and a frame, one byte at a time.
    let mut client = offering_client();
    let mut input =
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n".to_vec();
    input.extend_from_slice(&switching(&[]));
    input.extend_from_slice(b"\x81\x02hi");
    let mut upgraded = None;
    for (i, byte) in input.iter().enumerate() {
        if let Some(done) = client.recv(std::slice::from_ref(byte)).expect("no error") {
            assert_eq!(i, input.len() - 5, "completes at the 101's last byte");
            upgraded = Some(done);
            break;
        }
    }
    let mut connection = upgraded.expect("complete").into_connection();
    connection.recv(b"\x81\x02hi");
    assert_eq!(connection.poll_event(), Ok(Some(Event::Text("hi".into()))));
}

/// `Response::headers` is documented as "the header fields, without those
/// the response writes itself (`Content-Length` and `Connection` on a
/// refusal)", yet a received refusal keeps the received `Content-Length`
/// and `Connection`, so `to_bytes` writes both fields twice, with two
/// different lengths when only part of the body arrived.
#[test]

fn a_received_refusal_serializes_with_one_content_length() {
    let mut client = offering_client();
    let error = client
        .recv(b"HTTP/1.1 302 Found\r\nLocation: /x\r\nContent-Length: 10\r\nConnection: close\r\n\r\nab")
        .unwrap_err();
    let received = error.response().unwrap();
    assert_eq!(received.body_bytes(), b"ab");
    let bytes = String::from_utf8(received.to_bytes()).unwrap();
    assert_eq!(bytes.matches("Content-Length:").count(), 1, "{bytes:?}");
    assert_eq!(bytes.matches("Connection:").count(), 1, "{bytes:?}");
}

#[test]
fn input_after_the_upgrade_is_already_complete() {
    let mut client = offering_client();
    let _upgraded = upgrade(&mut client, &switching(&[]));
    for later in [&switching(&[])[..], b"\x81\x00", b""] {
        let error = client.recv(later).unwrap_err();
        assert_eq!(error.kind(), ResponseErrorKind::AlreadyComplete);
        assert_eq!(error.status(), None);
    }
}

// ----- the `http` crate -----

#[cfg(feature = "http")]
mod http_types {
    use super::*;

    fn fields_of(map: &http::HeaderMap) -> Vec<(String, Vec<u8>)> {
        map.iter()
            .map(|(name, value)| (name.as_str().to_owned(), value.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn to_http_request_has_the_fields_of_request_bytes() {
        let request = ClientRequest::new("ws://example.com:9001/chat?x=1")
            .unwrap()
            .protocol("chat.v1")
            .origin("http://example.com")
            .header("Cookie", "session=abc");
        let client = handshake(&request);
        let http_request = client.to_http_request();
        assert_eq!(http_request.method(), http::Method::GET);
        assert_eq!(http_request.version(), http::Version::HTTP_11);
        assert_eq!(http_request.uri(), "/chat?x=1");
        let from_bytes: Vec<(String, Vec<u8>)> = String::from_utf8(client.request_bytes().to_vec())
            .unwrap()
            .split("\r\n")
            .skip(1)
            .filter(|line| !line.is_empty())
            .map(|line| {
                let (name, value) = line.split_once(": ").unwrap();
                (name.to_ascii_lowercase(), value.as_bytes().to_vec())
            })
            .collect();
        assert_eq!(from_bytes.len(), 8);
        assert_eq!(fields_of(http_request.headers()), from_bytes);
    }

    fn http_response(status: u16, fields: &[(&str, &str)]) -> http::Response<()> {
        let mut builder = http::Response::builder().status(status);
        for (name, value) in fields {
            builder = builder.header(*name, *value);
        }
        builder.body(()).unwrap()
    }

    #[test]
    fn recv_http_response_checks_like_recv() {
        let mut client = offering_client();
        let upgraded = client
            .recv_http_response(&http_response(
                101,
                &[
                    ("upgrade", "websocket"),
                    ("connection", "Upgrade"),
                    ("sec-websocket-accept", ACCEPT),
                    ("sec-websocket-protocol", "chat.v1"),
                ],
            ))
            .unwrap();
        assert_eq!(upgraded.protocol(), Some("chat.v1"));
        assert_eq!(upgraded.leftover(), b"");
        let again = client.recv(&switching(&[])).unwrap_err();
        assert_eq!(again.kind(), ResponseErrorKind::AlreadyComplete);

        let mut refused = offering_client();
        let error = refused
            .recv_http_response(&http_response(403, &[("content-type", "text/plain")]))
            .unwrap_err();
        assert_eq!(error.kind(), ResponseErrorKind::NotSwitching);
        assert_eq!(error.status(), Some(403));
        assert_eq!(
            error.response().unwrap().headers().get_str("Content-Type"),
            Some("text/plain")
        );
        assert_eq!(refused.recv(&switching(&[])).unwrap_err(), error);

        let mut tampered = offering_client();
        let error = tampered
            .recv_http_response(&http_response(
                101,
                &[
                    ("upgrade", "websocket"),
                    ("connection", "upgrade"),
                    ("sec-websocket-accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOp="),
                ],
            ))
            .unwrap_err();
        assert_eq!(error.kind(), ResponseErrorKind::InvalidAccept);
    }

    #[test]
    fn recv_http_response_refuses_http_1_0() {
        let mut response = http_response(
            101,
            &[
                ("upgrade", "websocket"),
                ("connection", "Upgrade"),
                ("sec-websocket-accept", ACCEPT),
            ],
        );
        *response.version_mut() = http::Version::HTTP_10;
        let error = offering_client().recv_http_response(&response).unwrap_err();
        assert_eq!(error.kind(), ResponseErrorKind::HttpVersion);
    }
}
