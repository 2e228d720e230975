//! Property tests on the opening handshake: a valid request in any header
//! order, name case and optional whitespace, split anywhere, is accepted
//! with the same contents; mutated requests give the same result whole or
//! split; a client accepts whatever a server accepted, split anywhere.

#![cfg(feature = "std")]

use crate::common;

use base64::Engine as _;
use common::{ScriptedEntropy, cut_at};
use proptest::prelude::*;
use wsproto::Config;
use wsproto::handshake::{
    Accept, ClientHandshake, ClientRequest, Request, RequestError, ServerHandshake,
};

/// Feeds `chunks` to a fresh server handshake; the first non-`None` result.
fn serve(chunks: &[&[u8]]) -> Result<Option<Request>, RequestError> {
    let mut handshake = ServerHandshake::new(&Config::default());
    for chunk in chunks {
        if let Some(request) = handshake.recv(chunk)? {
            return Ok(Some(request));
        }
    }
    Ok(None)
}

/// `text` with each ASCII letter's case flipped where `flips` says so.
fn recase(text: &str, flips: &[bool]) -> String {
    text.chars()
        .zip(flips.iter().cycle())
        .map(|(c, &flip)| {
            if flip {
                if c.is_ascii_lowercase() {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                }
            } else {
                c
            }
        })
        .collect()
}

fn ows() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just(""), Just(" "), Just("\t"), Just("  \t")]
}

#[derive(Debug, Clone)]
struct Offer {
    key: String,
    protocols: Vec<String>,
    extras: Vec<(String, String)>,
    fields: Vec<(String, String)>,
    leftover: Vec<u8>,
}

fn offer() -> impl Strategy<Value = Offer> {
    (
        any::<[u8; 16]>(),
        proptest::collection::vec("[a-z][a-z0-9.]{0,8}", 0..4),
        proptest::collection::vec(("x-[a-z]{1,8}", "[ -~&&[^ ]][ -~]{0,20}[ -~&&[^ ]]"), 0..5),
        prop_oneof![
            Just("Upgrade"),
            Just("keep-alive, Upgrade"),
            Just("upgrade,keep-alive"),
            Just("Keep-Alive ,\tUPGRADE")
        ],
        proptest::collection::vec(any::<bool>(), 1..16),
        proptest::collection::vec(ows(), 2),
        proptest::collection::vec(any::<u8>(), 0..40),
    )
        .prop_flat_map(
            |(nonce, protocols, extras, connection, flips, pad, leftover)| {
                let key = base64::engine::general_purpose::STANDARD.encode(nonce);
                let mut fields = vec![
                    ("Host".to_owned(), "example.com:9001".to_owned()),
                    ("Upgrade".to_owned(), recase("websocket", &flips)),
                    ("Connection".to_owned(), connection.to_owned()),
                    (
                        "Sec-WebSocket-Key".to_owned(),
                        format!("{}{key}{}", pad[0], pad[1]),
                    ),
                    ("Sec-WebSocket-Version".to_owned(), format!("{}13", pad[1])),
                ];
                // Subprotocols split over one or two lines keep their order.
                match protocols.len() {
                    0 => {}
                    1 => fields.push(("Sec-WebSocket-Protocol".into(), protocols[0].clone())),
                    n => {
                        let (a, b) = protocols.split_at(n / 2);
                        fields.push(("Sec-WebSocket-Protocol".into(), a.join(", ")));
                        fields.push(("Sec-WebSocket-Protocol".into(), b.join(" ,")));
                    }
                }
                fields.extend(extras.iter().cloned());
                let names_recased: Vec<(String, String)> = fields
                    .iter()
                    .map(|(name, value)| (recase(name, &flips), value.clone()))
                    .collect();
                (
                    Just(key),
                    Just(protocols),
                    Just(extras),
                    Just(names_recased).prop_shuffle(),
                    Just(leftover),
                )
            },
        )
        .prop_map(|(key, protocols, extras, fields, leftover)| Offer {
            key,
            protocols,
            extras,
            fields,
            leftover,
        })
}

/// The request bytes, keeping the relative order of repeated names (the
/// shuffle may swap two `Sec-WebSocket-Protocol` lines; put them back).
fn request_bytes(offer: &Offer) -> Vec<u8> {
    let mut fields = offer.fields.clone();
    let protocol_slots: Vec<usize> = fields
        .iter()
        .enumerate()
        .filter(|(_, (name, _))| name.eq_ignore_ascii_case("Sec-WebSocket-Protocol"))
        .map(|(i, _)| i)
        .collect();
    let mut protocol_values: Vec<(String, String)> =
        protocol_slots.iter().map(|&i| fields[i].clone()).collect();
    // The first line holds the first half (see `offer`); compare whole
    // lines, since a name may repeat across both.
    let half = offer.protocols.len() / 2;
    let first_line = offer.protocols[..half].join(", ");
    protocol_values.sort_by_key(|(_, value)| *value != first_line);
    for (slot, value) in protocol_slots.into_iter().zip(protocol_values) {
        fields[slot] = value;
    }
    let mut bytes = b"GET /chat?room=1 HTTP/1.1\r\n".to_vec();
    for (name, value) in fields {
        bytes.extend_from_slice(format!("{name}:{value}\r\n").as_bytes());
    }
    bytes.extend_from_slice(b"\r\n");
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_order_case_and_whitespace_is_accepted(
        offer in offer(),
        cuts in proptest::collection::vec(any::<usize>(), 0..6),
    ) {
        let mut input = request_bytes(&offer);
        input.extend_from_slice(&offer.leftover);
        let request = serve(&cut_at(&input, &cuts))
            .expect("valid request")
            .expect("complete");
        prop_assert_eq!(request.path(), "/chat");
        prop_assert_eq!(request.query(), Some("room=1"));
        prop_assert_eq!(request.host(), "example.com:9001");
        prop_assert_eq!(request.key(), Some(offer.key.as_str()));
        prop_assert_eq!(request.protocols().collect::<Vec<_>>(), offer.protocols.iter().map(String::as_str).collect::<Vec<_>>());
        for (name, value) in &offer.extras {
            prop_assert!(request.headers().get_all(name).any(|v| v == value.as_bytes()));
        }
        // Whatever followed the head arrives whole in the last chunk's leftover
        // or, if the head ended in an earlier chunk, in that chunk's leftover
        // plus nothing lost: the total is checked by feeding whole.
        let whole = serve(&[&input]).expect("valid").expect("complete");
        prop_assert_eq!(whole.leftover(), &offer.leftover[..]);
        prop_assert!(request.accept(&Accept::new()).is_ok());
    }

    #[test]
    fn mutated_requests_give_the_same_result_whole_or_split(
        offer in offer(),
        edits in proptest::collection::vec((any::<usize>(), any::<u8>(), 0u8..3), 1..4),
        cuts in proptest::collection::vec(any::<usize>(), 1..6),
    ) {
        let mut input = request_bytes(&offer);
        for (at, byte, op) in edits {
            let at = at % (input.len() + 1);
            match op {
                0 if at < input.len() => input[at] = byte,
                1 => input.insert(at, byte),
                _ if at < input.len() => { input.remove(at); }
                _ => {}
            }
        }
        let whole = serve(&[&input]);
        let split = serve(&cut_at(&input, &cuts));
        match (&whole, &split) {
            // A split request's leftover is only what followed the head in
            // the chunk where it ended; compare everything else.
            (Ok(Some(a)), Ok(Some(b))) => {
                prop_assert_eq!(a.headers(), b.headers());
                prop_assert_eq!(a.target(), b.target());
                prop_assert_eq!(a.key(), b.key());
            }
            _ => prop_assert_eq!(&whole, &split),
        }
        if let Err(error) = &whole {
            let status = error.status();
            prop_assert!(matches!(status, 400 | 426 | 431), "status {}", status);
        }
    }

    #[test]
    fn client_accepts_what_the_server_accepted(
        protocols in proptest::collection::vec("[a-z][a-z0-9.]{0,8}", 0..4),
        choice in any::<prop::sample::Index>(),
        choose in any::<bool>(),
        cuts in proptest::collection::vec(any::<usize>(), 0..6),
        seed in any::<[u8; 16]>(),
    ) {
        let mut request = ClientRequest::new("ws://127.0.0.1:9001/x").expect("url");
        for protocol in &protocols {
            request = request.protocol(protocol.clone());
        }
        let mut client = ClientHandshake::with_entropy(
            &request,
            Config::default(),
            Box::new(ScriptedEntropy::new(&seed)),
        )
        .expect("request");
        let offer = serve(&[client.request_bytes()]).expect("valid").expect("complete");
        let chosen = (choose && !protocols.is_empty()).then(|| protocols[choice.index(protocols.len())].clone());
        let mut accept = Accept::new();
        if let Some(protocol) = &chosen {
            accept = accept.protocol(protocol.clone());
        }
        let response = offer.accept(&accept).expect("offered").to_bytes();
        let mut upgraded = None;
        for chunk in cut_at(&response, &cuts) {
            if let Some(done) = client.recv(chunk).expect("accepted") {
                upgraded = Some(done);
                break;
            }
        }
        let upgraded = upgraded.expect("complete");
        prop_assert_eq!(upgraded.protocol(), chosen.as_deref());
    }
}
