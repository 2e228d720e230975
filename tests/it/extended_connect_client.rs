//! The client side of WebSocket over HTTP/2 and HTTP/3 (RFC 8441, RFC
//! 9220) through the `http` conversions: the extended CONNECT a
//! `ClientHandshake` describes, and every check of the server's answer.
//! The server side is in `handshake.rs` (`extended_connect_*`).

#![cfg(all(feature = "http", feature = "deflate"))]

use wsproto::handshake::{
    Accept, ClientHandshake, ClientRequest, Extension, Request, ResponseErrorKind,
};
use wsproto::{Config, Event, Role};

fn handshake(url: &str, config: Config) -> ClientHandshake {
    let request = ClientRequest::new(url)
        .unwrap()
        .protocol("chat.v1")
        .protocol("chat.v2")
        .origin("https://example.com")
        .header("Cookie", "session=abc")
        .header("Authorization", "Bearer 7d2c");
    ClientHandshake::new(&request, config).unwrap()
}

fn deflate_config() -> Config {
    let mut config = Config::default();
    config.deflate.enabled = true;
    config
}

/// Header fields, name and value.
type Fields<'a> = &'a [(&'a str, &'a str)];

/// A response with `status` and `fields`.
fn response(status: u16, fields: Fields) -> http::Response<()> {
    let mut response = http::Response::builder().status(status);
    for (name, value) in fields {
        response = response.header(*name, *value);
    }
    response.body(()).unwrap()
}

#[test]
fn the_extended_connect_carries_the_offer_and_no_http11_fields() {
    for (url, uri) in [
        (
            "ws://example.com/chat?room=1",
            "http://example.com/chat?room=1",
        ),
        ("wss://example.com:8443/", "https://example.com:8443/"),
        ("ws://[::1]:9001/x", "http://[::1]:9001/x"),
    ] {
        let connect = handshake(url, deflate_config()).to_http_extended_connect();
        assert_eq!(connect.method(), http::Method::CONNECT);
        assert_eq!(connect.version(), http::Version::HTTP_2);
        assert_eq!(connect.uri(), uri);
        let fields = connect.headers();
        for absent in ["host", "upgrade", "connection", "sec-websocket-key"] {
            assert!(!fields.contains_key(absent), "{url}: {absent}");
        }
        assert_eq!(fields["sec-websocket-version"], "13");
        assert_eq!(fields["sec-websocket-protocol"], "chat.v1, chat.v2");
        assert!(
            fields["sec-websocket-extensions"]
                .to_str()
                .unwrap()
                .starts_with("permessage-deflate"),
            "{fields:?}"
        );
        assert_eq!(fields["origin"], "https://example.com");
        assert_eq!(fields["cookie"], "session=abc");
        assert_eq!(fields["authorization"], "Bearer 7d2c");
        // The server side takes it as it is.
        let offer = Request::from_http_extended_connect(&connect, "websocket").unwrap();
        assert_eq!(offer.key(), None);
        assert_eq!(
            offer.protocols().collect::<Vec<_>>(),
            ["chat.v1", "chat.v2"]
        );
    }
}

#[test]
fn a_client_and_a_server_agree_over_an_extended_connect() {
    let config = deflate_config();
    let mut client = handshake("wss://example.com/chat", config.clone());
    let connect = client.to_http_extended_connect();
    let mut offer = Request::from_http_extended_connect(&connect, "websocket").unwrap();
    offer.negotiate_deflate(&config.deflate);
    let answer = offer
        .accept(&Accept::new().protocol("chat.v2"))
        .unwrap()
        .to_http();
    assert_eq!(answer.status(), 200);
    let mut server = offer.into_connection(config);
    let upgraded = client.recv_http_extended_connect_response(&answer).unwrap();
    assert_eq!(upgraded.protocol(), Some("chat.v2"));
    assert!(upgraded.deflate().is_some());
    assert_eq!(upgraded.response().status(), 200);
    let mut client = upgraded.into_connection();
    assert_eq!(client.role(), Role::Client);
    // Compressed both ways, masked by the client.
    let text = "the same words again and again, the same words again and again";
    client.send_text(text).unwrap();
    let mut wire = Vec::new();
    client.poll_transmit(&mut wire);
    assert!(wire.len() < text.len(), "compressed: {} bytes", wire.len());
    server.recv(&wire);
    assert_eq!(server.poll_event().unwrap(), Some(Event::Text(text.into())));
    server.send_text(text).unwrap();
    wire.clear();
    server.poll_transmit(&mut wire);
    client.recv(&wire);
    assert_eq!(client.poll_event().unwrap(), Some(Event::Text(text.into())));
    // One answer per handshake.
    let mut once = handshake("ws://example.com/", Config::default());
    once.recv_http_extended_connect_response(&response(200, &[]))
        .unwrap();
    let again = once
        .recv_http_extended_connect_response(&response(200, &[]))
        .unwrap_err();
    assert_eq!(again.kind(), ResponseErrorKind::AlreadyComplete);
}

#[test]
fn every_answer_check_has_its_error_kind() {
    use ResponseErrorKind as Kind;
    let cases: [(u16, Fields, Kind); 7] = [
        // Not a 2xx: a refusal, a redirect, and the 101 of HTTP/1.1.
        (403, &[("content-type", "text/plain")], Kind::NotSwitching),
        (
            302,
            &[("location", "https://example.com/elsewhere")],
            Kind::NotSwitching,
        ),
        (101, &[], Kind::NotSwitching),
        // A subprotocol that was not offered, or two.
        (
            200,
            &[("sec-websocket-protocol", "chat.v3")],
            Kind::ProtocolNotOffered,
        ),
        (
            200,
            &[("sec-websocket-protocol", "chat.v1, chat.v2")],
            Kind::ProtocolNotOffered,
        ),
        // An extension that was not offered.
        (
            200,
            &[("sec-websocket-extensions", "x-other")],
            Kind::ExtensionNotOffered,
        ),
        // permessage-deflate with a parameter the offer did not allow.
        (
            200,
            &[(
                "sec-websocket-extensions",
                "permessage-deflate; server_max_window_bits=7",
            )],
            Kind::InvalidExtensionParams,
        ),
    ];
    for (status, fields, kind) in cases {
        let mut client = handshake("ws://example.com/", deflate_config());
        let error = client
            .recv_http_extended_connect_response(&response(status, fields))
            .unwrap_err();
        assert_eq!(error.kind(), kind, "{status} {fields:?}");
        if kind == Kind::NotSwitching {
            // The refusal is kept, for its status and fields.
            let kept = error.response().expect("the response");
            assert_eq!(kept.status(), status);
            if let Some((name, value)) = fields.first() {
                assert_eq!(kept.headers().get_str(name), Some(*value));
            }
        }
        // The error is sticky.
        let again = client
            .recv_http_extended_connect_response(&response(200, &[]))
            .unwrap_err();
        assert_eq!(again.kind(), kind);
    }
    // Any 2xx opens the tunnel, and an answer without choices is fine.
    for status in [200, 204, 299] {
        let mut client = handshake("ws://example.com/", deflate_config());
        let upgraded = client
            .recv_http_extended_connect_response(&response(status, &[]))
            .unwrap();
        assert_eq!((upgraded.protocol(), upgraded.deflate()), (None, None));
    }
    // An extension the application offered itself is accepted.
    let request = ClientRequest::new("ws://example.com/")
        .unwrap()
        .extension(Extension::new("x-mine").unwrap());
    let mut client = ClientHandshake::new(&request, Config::default()).unwrap();
    let upgraded = client
        .recv_http_extended_connect_response(&response(
            200,
            &[("sec-websocket-extensions", "x-mine")],
        ))
        .unwrap();
    assert_eq!(upgraded.extensions()[0].name(), "x-mine");
}
