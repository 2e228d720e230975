//! permessage-deflate negotiation in the handshake targets: the server
//! choosing among hostile offers, the client checking a hostile answer.
//!
//! Bits 3 and 4 of byte 0 (which `crate::input::split_setup` leaves alone)
//! choose the deflate configuration; without them neither side offers or
//! accepts, and the parameter parsers would never see peer bytes.
//!
//! Invariants, besides the handshake's own:
//!
//! - whatever was agreed honours the configuration: windows no larger than
//!   it allows, no context takeover wherever it asks for it;
//! - the server declines nothing it must take: a bare `permessage-deflate`
//!   offer is accepted when the configuration does not bound the client's
//!   window (section 7.1.2.2: it may then use 15 bits);
//! - the server's answer, read by our own client (offering 15 bits both
//!   ways and a window hint), is accepted and agrees: the same windows and
//!   context takeover as seen from the other end (the client's view of the
//!   server's window may be larger, when the answer does not name it);
//! - the client agrees to deflate exactly when the answer names it.

use wsproto::handshake::{
    ClientHandshake, ClientRequest, Extension, Request, Response, accept_key,
};
use wsproto::{Config, DeflateConfig, DeflateParams};

use crate::input::ZeroNonce;

/// The name of the extension (RFC 7692 section 7).
const DEFLATE: &str = "permessage-deflate";

/// The deflate configuration byte 0 chose (off without bits 3 and 4):
///
/// - bit 3 alone: the defaults (15 bits both ways, context takeover
///   allowed);
/// - bit 4 alone: the client's window bounded (12 bits) and its context
///   takeover refused, ours as the defaults;
/// - both: our window bounded too (10 bits), no context takeover either
///   way.
///
/// The bounded ones let offers and answers ask for more than is allowed.
pub fn choose(config: &mut Config, flags: u8) {
    let mut deflate = DeflateConfig::default();
    deflate.enabled = flags & 0b1_1000 != 0;
    if flags & 0b1_0000 != 0 {
        deflate.max_window_bits = if flags & 0b1000 != 0 { 10 } else { 15 };
        deflate.peer_max_window_bits = 12;
        deflate.no_context_takeover = flags & 0b1000 != 0;
        deflate.peer_no_context_takeover = true;
    }
    config.deflate = deflate;
}

/// Whether `agreed` stays within what `config` allows.
fn check_within(config: &DeflateConfig, agreed: DeflateParams) {
    assert!(config.enabled, "agreed {agreed:?} with deflate off");
    // `choose` sets window sizes within 8..=15, so they need no clamping.
    assert!(
        agreed.own_max_window_bits() <= config.max_window_bits
            && agreed.peer_max_window_bits() <= config.peer_max_window_bits,
        "agreed {agreed:?} against {config:?}"
    );
    assert!(
        agreed.own_no_context_takeover() >= config.no_context_takeover
            && agreed.peer_no_context_takeover() >= config.peer_no_context_takeover,
        "agreed {agreed:?} against {config:?}"
    );
}

/// The server side: what `head` agreed, and the answer in `response`.
pub fn check_server(config: &DeflateConfig, head: &Request, response: &Response) {
    let answers = extensions(response.headers().get("Sec-WebSocket-Extensions"));
    let answer: Vec<&Extension> = answers.iter().filter(|e| is_deflate(e)).collect();
    let Some(agreed) = head.deflate() else {
        assert!(answer.is_empty(), "answered {answer:?} without agreeing");
        let bare_offer = head
            .extensions()
            .iter()
            .any(|offer| is_deflate(offer) && offer.params().next().is_none());
        assert!(
            !(config.enabled && bare_offer && config.peer_max_window_bits >= 15),
            "declined a bare offer: {:?}",
            head.extensions()
        );
        return;
    };
    check_within(config, agreed);
    assert!(
        head.extensions().iter().any(is_deflate),
        "agreed {agreed:?} without an offer"
    );
    let [answer] = answer.as_slice() else {
        panic!("agreed {agreed:?} but answered {answer:?}");
    };
    let seen = client_reading(answer);
    assert_eq!(
        (
            seen.own_max_window_bits(),
            seen.own_no_context_takeover(),
            seen.peer_no_context_takeover()
        ),
        (
            agreed.peer_max_window_bits(),
            agreed.peer_no_context_takeover(),
            agreed.own_no_context_takeover()
        ),
        "our client reads {answer} as {seen:?}; the server agreed {agreed:?}"
    );
    assert!(
        seen.peer_max_window_bits() >= agreed.own_max_window_bits(),
        "our client reads {answer} as {seen:?}; the server agreed {agreed:?}"
    );
}

/// The client side: what the client agreed to, given the extensions the
/// server's answer chose.
pub fn check_client(config: &DeflateConfig, agreed: Option<DeflateParams>, chosen: &[Extension]) {
    let named = chosen.iter().any(is_deflate);
    assert_eq!(
        agreed.is_some(),
        named,
        "agreed {agreed:?} for the answer {chosen:?}"
    );
    if let Some(agreed) = agreed {
        check_within(config, agreed);
    }
}

/// What our client, offering 15 bits both ways with a window hint,
/// agrees to when a server answers `answer`. Panics if it refuses it.
fn client_reading(answer: &Extension) -> DeflateParams {
    let mut config = Config::default();
    config.deflate.enabled = true;
    let request = ClientRequest::new("ws://example.com/").expect("a valid URL");
    let mut client = ClientHandshake::with_entropy(&request, config, Box::new(ZeroNonce::new()))
        .expect("the request builds");
    let key = key_of(client.request_bytes());
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\nSec-WebSocket-Extensions: {answer}\r\n\r\n",
        String::from_utf8_lossy(&accept_key(key.as_bytes())),
    );
    match client.recv(response.as_bytes()) {
        Ok(Some(upgraded)) => upgraded
            .deflate()
            .unwrap_or_else(|| panic!("our client ignored the answer {answer}")),
        other => panic!("our client refused the answer {answer}: {other:?}"),
    }
}

/// The `Sec-WebSocket-Key` of a request head we built.
fn key_of(request: &[u8]) -> String {
    let head = String::from_utf8_lossy(request);
    head.lines()
        .find_map(|line| line.strip_prefix("Sec-WebSocket-Key: "))
        .expect("our request carries a key")
        .to_owned()
}

fn extensions(value: Option<&[u8]>) -> Vec<Extension> {
    let Some(value) = value else {
        return Vec::new();
    };
    let value = std::str::from_utf8(value).expect("our answer is ASCII");
    Extension::parse_list(value).expect("our answer parses")
}

fn is_deflate(extension: &Extension) -> bool {
    extension.name().eq_ignore_ascii_case(DEFLATE)
}
