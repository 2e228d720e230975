//! The opening handshake parsers fed hostile bytes: the server reading a
//! request, the client reading a response.
//!
//! Invariants, for both:
//!
//! - whole or chunked, the outcome is the same, and the bytes after the
//!   head (the leftover) are exactly the rest of the input: consumed plus
//!   leftover equals given, nothing lost or repeated;
//! - after an error the same error comes back, and after success every
//!   further call says the handshake is complete;
//! - a refusal maps to a 4xx/5xx status and a response that says so;
//! - the head held in memory never exceeds `max_handshake_len` (twice, for
//!   the buffer's growth), whatever the input;
//! - the connection a success hands over starts with the leftover already
//!   fed: it decodes exactly what a fresh connection decodes from it (with
//!   the permessage-deflate agreed, if any);
//! - with deflate on (byte 0 bits 3-4), the negotiation's own invariants:
//!   see `crate::negotiation`.

use std::fmt::Debug;

use crate::decode;
use crate::heap;
use crate::input::{Setup, ZeroNonce, chunks, split_setup};
use crate::negotiation;
use wsproto::handshake::{
    Accept, ClientHandshake, ClientRequest, Extension, Request, RequestError, ResponseErrorKind,
    ServerHandshake, accept_key,
};
use wsproto::{Connection, ConnectionError, DeflateParams, Event, Role};

/// Slack for fixed-size state and the allocator's rounding.
const SLACK: usize = 8192;

/// What a handshake made of its input: the request or response fields
/// that matter, and every byte after the head; or the refusal; or nothing
/// yet.
#[derive(Debug, PartialEq, Eq)]
enum Outcome<T, E> {
    Upgraded { head: T, after: Vec<u8> },
    Refused(E),
    Incomplete,
}

/// Meters the heap a handshake holds while its head is incomplete: at most
/// `max_handshake_len` bytes, twice that in capacity while the buffer grows.
struct HeadMeter {
    baseline: usize,
    limit: usize,
}

impl HeadMeter {
    /// Starts metering from what is live now (the handshake just built).
    fn start(setup: &Setup) -> Self {
        HeadMeter {
            baseline: heap::live(),
            limit: 2 * setup.config.max_handshake_len + SLACK,
        }
    }

    fn check(&self) {
        let held = heap::live().saturating_sub(self.baseline);
        assert!(held <= self.limit, "holding {held} bytes of head");
    }
}

/// A handshake that upgraded: its head, the bytes after it, and the
/// connection it handed over.
struct Upgrade<T> {
    setup: Setup,
    head: T,
    after: Vec<u8>,
    connection: Connection,
}

/// Runs a handshake over one fuzz input chunked and whole; checks both give
/// the same outcome and that the bytes after the head are the end of the
/// input. Returns the upgrade, if the input made one.
fn chunked_and_whole<T: PartialEq + Debug, E: PartialEq + Debug>(
    data: &[u8],
    run: impl Fn(&Setup, &[&[u8]]) -> (Outcome<T, E>, Option<Connection>),
) -> Option<Upgrade<T>> {
    let (mut setup, stream) = split_setup(data);
    negotiation::choose(&mut setup.config, data.first().copied().unwrap_or(0));
    let pieces = chunks(stream, setup.max_chunk, setup.seed);
    let (chunked, connection) = run(&setup, &pieces);
    let (whole, _) = run(&setup, &[stream]);
    assert_eq!(chunked, whole, "chunking changed the handshake");
    let (Outcome::Upgraded { head, after }, Some(connection)) = (chunked, connection) else {
        return None;
    };
    assert_eq!(
        after.as_slice(),
        &stream[stream.len() - after.len()..],
        "the leftover is not the end of the input"
    );
    Some(Upgrade {
        setup,
        head,
        after,
        connection,
    })
}

/// Runs every server-side check on one fuzz input.
pub fn check_server(data: &[u8]) {
    if let Some(Upgrade {
        mut setup,
        head,
        after,
        connection,
    }) = chunked_and_whole(data, serve)
    {
        let response = head
            .accept(&Accept::new())
            .expect("a plain accept always builds");
        assert_eq!(response.status(), 101);
        let key = head.key().expect("an HTTP/1.1 upgrade has a key");
        assert_eq!(
            response.headers().get("Sec-WebSocket-Accept"),
            Some(accept_key(key.as_bytes()).as_slice())
        );
        negotiation::check_server(&setup.config.deflate, &head, &response);
        setup.deflate = head.deflate();
        check_handoff(Role::Server, &setup, connection, &after);
    }
}

type Served = Outcome<Request, RequestError>;

fn serve(setup: &Setup, pieces: &[&[u8]]) -> (Served, Option<Connection>) {
    let mut handshake = ServerHandshake::new(&setup.config);
    let meter = HeadMeter::start(setup);
    for (i, chunk) in pieces.iter().enumerate() {
        match handshake.recv(chunk) {
            Ok(None) => meter.check(),
            Ok(Some(request)) => {
                assert_eq!(
                    handshake.recv(b"x"),
                    Err(RequestError::AlreadyComplete),
                    "a complete handshake took more input"
                );
                let leftover = request.leftover();
                assert!(
                    leftover.len() <= chunk.len(),
                    "leftover longer than the chunk"
                );
                assert_eq!(leftover, &chunk[chunk.len() - leftover.len()..]);
                let mut after = leftover.to_vec();
                let mut head = request.clone();
                head.take_leftover();
                let mut connection = request.into_connection(setup.config.clone());
                for rest in &pieces[i + 1..] {
                    connection.recv(rest);
                    after.extend_from_slice(rest);
                }
                return (Outcome::Upgraded { head, after }, Some(connection));
            }
            Err(error) => {
                assert_eq!(handshake.recv(chunk), Err(error), "the error is not sticky");
                assert_eq!(handshake.recv(&[]), Err(error), "the error is not sticky");
                assert_eq!(error.response().status(), error.status());
                assert!(
                    (400..600).contains(&error.status()),
                    "{error:?} answered {}",
                    error.status()
                );
                if let RequestError::HeadTooLarge { max } = error {
                    let fed: usize = pieces[..=i].iter().map(|p| p.len()).sum();
                    assert!(fed >= max, "refused {fed} bytes as over {max}");
                }
                return (Outcome::Refused(error), None);
            }
        }
    }
    assert_eq!(
        handshake.recv(&[]),
        Ok(None),
        "an empty read changed the outcome"
    );
    (Outcome::Incomplete, None)
}

/// The client request every response is read against: two subprotocols
/// and an extension offered, so a response can pick them or answer wrongly.
fn client_request() -> ClientRequest {
    ClientRequest::new("ws://example.com/chat")
        .expect("a valid URL")
        .protocol("chat")
        .protocol("superchat")
        .extension(Extension::new("x-test").expect("a valid token"))
}

/// The fields of a response that matter: the subprotocol and extensions
/// chosen, and the permessage-deflate parameters agreed.
type Chosen = (Option<String>, Vec<Extension>, Option<DeflateParams>);
/// A refusal without the received body, which holds only the bytes that
/// came with the head, so it depends on the chunking (as documented).
type Refusal = (ResponseErrorKind, Option<u16>, Vec<(String, Vec<u8>)>);
type Answered = Outcome<Chosen, Refusal>;

/// Runs every client-side check on one fuzz input.
pub fn check_client(data: &[u8]) {
    if let Some(Upgrade {
        mut setup,
        head: (protocol, extensions, agreed),
        after,
        connection,
    }) = chunked_and_whole(data, answer)
    {
        if let Some(protocol) = protocol {
            assert!(
                ["chat", "superchat"].contains(&protocol.as_str()),
                "{protocol} not offered"
            );
        }
        assert!(
            extensions.iter().all(|e| {
                e.name().eq_ignore_ascii_case("x-test")
                    || (setup.config.deflate.enabled
                        && e.name().eq_ignore_ascii_case("permessage-deflate"))
            }),
            "{extensions:?} not offered"
        );
        negotiation::check_client(&setup.config.deflate, agreed, &extensions);
        setup.deflate = agreed;
        check_handoff(Role::Client, &setup, connection, &after);
    }
}

fn answer(setup: &Setup, pieces: &[&[u8]]) -> (Answered, Option<Connection>) {
    let mut handshake = ClientHandshake::with_entropy(
        &client_request(),
        setup.config.clone(),
        Box::new(ZeroNonce::new()),
    )
    .expect("the request builds");
    let meter = HeadMeter::start(setup);
    for (i, chunk) in pieces.iter().enumerate() {
        match handshake.recv(chunk) {
            Ok(None) => meter.check(),
            Ok(Some(upgraded)) => {
                let again = handshake.recv(b"x").map(|_| ()).unwrap_err();
                assert_eq!(again.kind(), ResponseErrorKind::AlreadyComplete);
                assert_eq!(upgraded.response().status(), 101);
                let leftover = upgraded.leftover();
                assert!(
                    leftover.len() <= chunk.len(),
                    "leftover longer than the chunk"
                );
                assert_eq!(leftover, &chunk[chunk.len() - leftover.len()..]);
                let mut after = leftover.to_vec();
                let head = (
                    upgraded.protocol().map(str::to_owned),
                    upgraded.extensions().to_vec(),
                    upgraded.deflate(),
                );
                let mut connection = upgraded.into_connection();
                for rest in &pieces[i + 1..] {
                    connection.recv(rest);
                    after.extend_from_slice(rest);
                }
                return (Outcome::Upgraded { head, after }, Some(connection));
            }
            Err(error) => {
                let again = handshake.recv(chunk).map(|_| ()).unwrap_err();
                assert_eq!(again, error, "the error is not sticky");
                let mut fields = Vec::new();
                if let Some(response) = error.response() {
                    let body = response.body_bytes();
                    assert!(body.len() <= chunk.len(), "body longer than the chunk");
                    assert_eq!(
                        body,
                        &chunk[chunk.len() - body.len()..],
                        "body is not the rest"
                    );
                    assert_ne!(
                        (response.status(), error.kind()),
                        (101, ResponseErrorKind::NotSwitching)
                    );
                    for (name, value) in response.headers().iter() {
                        fields.push((name.to_owned(), value.to_vec()));
                    }
                }
                let refusal = (error.kind(), error.status(), fields);
                return (Outcome::Refused(refusal), None);
            }
        }
    }
    assert!(
        matches!(handshake.recv(&[]), Ok(None)),
        "an empty read changed the outcome"
    );
    (Outcome::Incomplete, None)
}

/// The connection a handshake handed over, with the bytes after the head
/// fed to it, decodes exactly what a fresh connection decodes from them.
fn check_handoff(role: Role, setup: &Setup, mut connection: Connection, after: &[u8]) {
    if setup.eof {
        connection.recv_eof();
    }
    let mut events: Vec<Result<Event, ConnectionError>> = Vec::new();
    loop {
        match connection.poll_event() {
            Ok(Some(event)) => events.push(Ok(event)),
            Ok(None) => break,
            Err(error) => {
                events.push(Err(error));
                break;
            }
        }
    }
    let fresh = decode::run_messages(role, setup, &[after]);
    assert_eq!(
        events, fresh.events,
        "the handed-over connection lost or changed bytes"
    );
}
