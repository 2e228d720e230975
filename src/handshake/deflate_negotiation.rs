//! The negotiation of RFC 7692 section 7.1: the client's offer, the
//! server's choice among offers, and the client's check of the answer.
//!
//! It belongs to the handshake, not to `deflate/`: it reads and writes
//! `Sec-WebSocket-Extensions` values ([`Extension`]), which only the
//! handshake knows, and hands the compressor nothing but the agreed
//! [`DeflateParams`]. Kept in `deflate/`, it made `deflate` import
//! `handshake` while the handshakes called into `deflate`; here the
//! dependency points one way, from the handshake to the codec's
//! configuration.

use crate::prelude::*;

use super::extension::Extension;
use crate::deflate::{
    DeflateConfig, DeflateParams, EXTENSION_NAME, MAX_WINDOW_BITS, MIN_WINDOW_BITS,
};

const SERVER_NO_CONTEXT_TAKEOVER: &str = "server_no_context_takeover";
const CLIENT_NO_CONTEXT_TAKEOVER: &str = "client_no_context_takeover";
const SERVER_MAX_WINDOW_BITS: &str = "server_max_window_bits";
const CLIENT_MAX_WINDOW_BITS: &str = "client_max_window_bits";

/// Why an offer or an answer is invalid (section 7.1: unknown parameter,
/// repeated parameter, invalid value), or why an answer does not fit the
/// offer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BadParams {
    Unknown,
    Repeated,
    InvalidValue,
    /// The answer omits a parameter the offer requires it to carry.
    Missing(&'static str),
    /// The answer grants a window larger than the offer allows.
    TooLarge(&'static str),
    /// The offer cannot bound the peer's window as the configuration wants.
    PeerWindowUnbounded,
}

/// The parameters of one offer or answer, each at most once.
#[derive(Default)]
struct Params {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    /// `Some(None)`: present without a value (allowed in offers only).
    client_max_window_bits: Option<Option<u8>>,
}

/// Which side of the exchange is being read: an answer's
/// `client_max_window_bits` must carry a value.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Offer,
    Answer,
}

fn parse(extension: &Extension, side: Side) -> Result<Params, BadParams> {
    let mut params = Params::default();
    let mut seen = [false; 4];
    for (name, value) in extension.params() {
        let index = [
            SERVER_NO_CONTEXT_TAKEOVER,
            CLIENT_NO_CONTEXT_TAKEOVER,
            SERVER_MAX_WINDOW_BITS,
            CLIENT_MAX_WINDOW_BITS,
        ]
        .iter()
        .position(|known| known.eq_ignore_ascii_case(name))
        .ok_or(BadParams::Unknown)?;
        if core::mem::replace(&mut seen[index], true) {
            return Err(BadParams::Repeated);
        }
        match (index, value) {
            (0, None) => params.server_no_context_takeover = true,
            (1, None) => params.client_no_context_takeover = true,
            (2, Some(value)) => params.server_max_window_bits = Some(window_bits(value)?),
            (3, None) if side == Side::Offer => params.client_max_window_bits = Some(None),
            (3, Some(value)) => params.client_max_window_bits = Some(Some(window_bits(value)?)),
            _ => return Err(BadParams::InvalidValue),
        }
    }
    Ok(params)
}

/// `1*DIGIT` without leading zeroes, 8 to 15 (section 7.1.2.1).
fn window_bits(value: &str) -> Result<u8, BadParams> {
    let digits = value.bytes().all(|b| b.is_ascii_digit()) && !value.starts_with('0');
    match value.parse::<u8>() {
        Ok(bits) if digits && (MIN_WINDOW_BITS..=MAX_WINDOW_BITS).contains(&bits) => Ok(bits),
        _ => Err(BadParams::InvalidValue),
    }
}

/// Whether `extension` is permessage-deflate (names are case-insensitive).
pub(crate) fn is_deflate(extension: &Extension) -> bool {
    extension.name().eq_ignore_ascii_case(EXTENSION_NAME)
}

fn with(extension: Extension, name: &str, value: Option<u8>) -> Extension {
    let value = value.map(|bits| bits.to_string());
    // Both are tokens: a fixed name and a number.
    extension
        .clone()
        .with_param(name, value.as_deref())
        .unwrap_or(extension)
}

fn bare() -> Extension {
    Extension::new(EXTENSION_NAME).expect("the extension name is a token")
}

/// The client's offer: one, carrying the configuration's wishes.
/// `client_max_window_bits` is always there, so a server may shrink our
/// window (browsers offer the same).
pub(crate) fn offer(config: &DeflateConfig) -> Extension {
    let mut offer = bare();
    let own = config.own_bits();
    offer = with(
        offer,
        CLIENT_MAX_WINDOW_BITS,
        (own < MAX_WINDOW_BITS).then_some(own),
    );
    if config.peer_bits() < MAX_WINDOW_BITS {
        offer = with(offer, SERVER_MAX_WINDOW_BITS, Some(config.peer_bits()));
    }
    if config.no_context_takeover {
        offer = with(offer, CLIENT_NO_CONTEXT_TAKEOVER, None);
    }
    if config.peer_no_context_takeover {
        offer = with(offer, SERVER_NO_CONTEXT_TAKEOVER, None);
    }
    offer
}

/// The server's choice: the first permessage-deflate offer the
/// configuration can honour, with the answer to send. Offers that are
/// invalid or ask for what we cannot give are declined (section 7.1).
pub(crate) fn accept_offers(
    offers: &[Extension],
    config: &DeflateConfig,
) -> Option<(DeflateParams, Extension)> {
    if !config.enabled {
        return None;
    }
    offers
        .iter()
        .filter(|offer| is_deflate(offer))
        .find_map(|offer| accept_offer(offer, config).ok())
}

fn accept_offer(
    offer: &Extension,
    config: &DeflateConfig,
) -> Result<(DeflateParams, Extension), BadParams> {
    let offered = parse(offer, Side::Offer)?;
    let mut answer = bare();
    // Ours (the server's): the client may shrink the window, and asking
    // for no context takeover must be answered (section 7.1.1.1).
    let mut own_bits = config.own_bits();
    if let Some(bits) = offered.server_max_window_bits {
        own_bits = own_bits.min(bits);
        answer = with(answer, SERVER_MAX_WINDOW_BITS, Some(own_bits));
    }
    // Announced even when not asked for (section 7.1.1.1 allows it): the
    // client can then drop its window between messages.
    let own_no_context_takeover = config.no_context_takeover || offered.server_no_context_takeover;
    if own_no_context_takeover {
        answer = with(answer, SERVER_NO_CONTEXT_TAKEOVER, None);
    }
    // The client's: without `client_max_window_bits` it may use 15 bits,
    // and the answer must not name the parameter (section 7.1.2.2).
    let wanted = config.peer_bits();
    let peer_bits = match offered.client_max_window_bits {
        None if wanted < MAX_WINDOW_BITS => return Err(BadParams::PeerWindowUnbounded),
        None => MAX_WINDOW_BITS,
        Some(hint) => hint.unwrap_or(MAX_WINDOW_BITS).min(wanted),
    };
    if peer_bits < MAX_WINDOW_BITS {
        answer = with(answer, CLIENT_MAX_WINDOW_BITS, Some(peer_bits));
    }
    // Named in the answer, the client's hint becomes binding.
    let peer_no_context_takeover =
        config.peer_no_context_takeover || offered.client_no_context_takeover;
    if peer_no_context_takeover {
        answer = with(answer, CLIENT_NO_CONTEXT_TAKEOVER, None);
    }
    // Both window sizes are within 8..=15 here (clamped or parsed as such),
    // so `new` always succeeds; a failure would decline the offer.
    let params = DeflateParams::new(
        own_bits,
        peer_bits,
        own_no_context_takeover,
        peer_no_context_takeover,
    )
    .ok_or(BadParams::InvalidValue)?;
    Ok((params, answer))
}

/// The client's check of the server's answer to [`offer`]`(config)`.
pub(crate) fn check_answer(
    answer: &Extension,
    config: &DeflateConfig,
) -> Result<DeflateParams, BadParams> {
    let answered = parse(answer, Side::Answer)?;
    if config.peer_no_context_takeover && !answered.server_no_context_takeover {
        return Err(BadParams::Missing(SERVER_NO_CONTEXT_TAKEOVER));
    }
    let asked = config.peer_bits();
    let peer_bits = match answered.server_max_window_bits {
        None if asked < MAX_WINDOW_BITS => return Err(BadParams::Missing(SERVER_MAX_WINDOW_BITS)),
        None => MAX_WINDOW_BITS,
        Some(bits) if bits > asked => return Err(BadParams::TooLarge(SERVER_MAX_WINDOW_BITS)),
        Some(bits) => bits,
    };
    let own = config.own_bits();
    let own_bits = match answered.client_max_window_bits {
        // An answer's value is required (checked by `parse`).
        None | Some(None) => own,
        Some(Some(bits)) if bits > own => return Err(BadParams::TooLarge(CLIENT_MAX_WINDOW_BITS)),
        Some(Some(bits)) => bits,
    };
    // Both window sizes are within 8..=15 here (clamped or parsed as such),
    // so `new` always succeeds; a failure would refuse the answer.
    DeflateParams::new(
        own_bits,
        peer_bits,
        config.no_context_takeover || answered.client_no_context_takeover,
        answered.server_no_context_takeover,
    )
    .ok_or(BadParams::InvalidValue)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deflate::tests::params;

    fn config() -> DeflateConfig {
        DeflateConfig {
            enabled: true,
            ..DeflateConfig::default()
        }
    }

    fn ext(value: &str) -> Vec<Extension> {
        Extension::parse_list(value).expect("well-formed")
    }

    /// The server's answer and parameters for an offer header.
    fn serve(value: &str, config: &DeflateConfig) -> Option<(DeflateParams, String)> {
        accept_offers(&ext(value), config).map(|(p, answer)| (p, answer.to_string()))
    }

    #[test]
    fn server_answers_each_parameter() {
        let c = config();
        let cases: &[(&str, DeflateParams, &str)] = &[
            (
                "permessage-deflate",
                params(15, 15, false, false),
                "permessage-deflate",
            ),
            (
                "permessage-deflate; client_max_window_bits",
                params(15, 15, false, false),
                "permessage-deflate",
            ),
            (
                "permessage-deflate; client_max_window_bits=10",
                params(15, 10, false, false),
                "permessage-deflate; client_max_window_bits=10",
            ),
            (
                "permessage-deflate; server_max_window_bits=8",
                params(8, 15, false, false),
                "permessage-deflate; server_max_window_bits=8",
            ),
            (
                "permessage-deflate; server_no_context_takeover",
                params(15, 15, true, false),
                "permessage-deflate; server_no_context_takeover",
            ),
            (
                "permessage-deflate; client_no_context_takeover",
                params(15, 15, false, true),
                "permessage-deflate; client_no_context_takeover",
            ),
            (
                "PerMessage-Deflate; Server_Max_Window_Bits=\"12\"; CLIENT_MAX_WINDOW_BITS=9",
                params(12, 9, false, false),
                "permessage-deflate; server_max_window_bits=12; client_max_window_bits=9",
            ),
        ];
        for (offer, expected, answer) in cases {
            assert_eq!(
                serve(offer, &c),
                Some((*expected, answer.to_string())),
                "{offer}"
            );
            // The client, told the same, agrees on the mirror image.
            let mut client = config();
            client.peer_max_window_bits = expected.own_max_window_bits();
            client.peer_no_context_takeover = expected.own_no_context_takeover();
            let answer = &ext(answer)[0];
            let seen = check_answer(answer, &client).expect("valid answer");
            assert_eq!(seen.peer_max_window_bits(), expected.own_max_window_bits());
            assert_eq!(
                seen.own_no_context_takeover(),
                expected.peer_no_context_takeover()
            );
        }
    }

    #[test]
    fn server_applies_its_configuration() {
        let mut c = config();
        c.max_window_bits = 11;
        c.no_context_takeover = true;
        c.peer_no_context_takeover = true;
        c.peer_max_window_bits = 12;
        assert_eq!(
            serve(
                "permessage-deflate; client_max_window_bits; server_max_window_bits=13",
                &c
            ),
            Some((
                params(11, 12, true, true),
                "permessage-deflate; server_max_window_bits=11; server_no_context_takeover; \
                 client_max_window_bits=12; client_no_context_takeover"
                    .into()
            ))
        );
        // Our own smaller window needs no announcement; the peer's does.
        assert_eq!(
            serve("permessage-deflate; client_max_window_bits=10", &c),
            Some((
                params(11, 10, true, true),
                "permessage-deflate; server_no_context_takeover; client_max_window_bits=10; \
                 client_no_context_takeover"
                    .into()
            ))
        );
        // A client that cannot bound its window is declined.
        assert_eq!(serve("permessage-deflate", &c), None);
        assert_eq!(
            accept_offer(&ext("permessage-deflate")[0], &c).err(),
            Some(BadParams::PeerWindowUnbounded)
        );
        // Off: nothing is accepted.
        assert_eq!(serve("permessage-deflate", &DeflateConfig::default()), None);
    }

    #[test]
    fn server_declines_invalid_offers_and_takes_the_next() {
        let c = config();
        let invalid: &[(&str, BadParams)] = &[
            ("permessage-deflate; foo", BadParams::Unknown),
            ("permessage-deflate; foo=1", BadParams::Unknown),
            (
                "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
                BadParams::Repeated,
            ),
            (
                "permessage-deflate; client_max_window_bits; Client_Max_Window_Bits=9",
                BadParams::Repeated,
            ),
            (
                "permessage-deflate; server_no_context_takeover=1",
                BadParams::InvalidValue,
            ),
            (
                "permessage-deflate; client_no_context_takeover=x",
                BadParams::InvalidValue,
            ),
            (
                "permessage-deflate; server_max_window_bits",
                BadParams::InvalidValue,
            ),
            (
                "permessage-deflate; server_max_window_bits=7",
                BadParams::InvalidValue,
            ),
            (
                "permessage-deflate; server_max_window_bits=16",
                BadParams::InvalidValue,
            ),
            (
                "permessage-deflate; server_max_window_bits=010",
                BadParams::InvalidValue,
            ),
            (
                "permessage-deflate; server_max_window_bits=+9",
                BadParams::InvalidValue,
            ),
            (
                "permessage-deflate; client_max_window_bits=0",
                BadParams::InvalidValue,
            ),
            (
                "permessage-deflate; client_max_window_bits=256",
                BadParams::InvalidValue,
            ),
        ];
        for (offer, reason) in invalid {
            assert_eq!(
                accept_offer(&ext(offer)[0], &c).err(),
                Some(*reason),
                "{offer}"
            );
            assert_eq!(serve(offer, &c), None, "{offer}");
            // Several offers in one header: the first valid one wins.
            let both = format!(
                "x-other, {offer}, permessage-deflate; server_max_window_bits=9, permessage-deflate"
            );
            assert_eq!(
                serve(&both, &c).map(|(p, _)| p),
                Some(params(9, 15, false, false)),
                "{both}"
            );
        }
    }

    #[test]
    fn client_offer_carries_the_configuration() {
        assert_eq!(
            offer(&config()).to_string(),
            "permessage-deflate; client_max_window_bits"
        );
        let mut c = config();
        c.max_window_bits = 10;
        c.peer_max_window_bits = 9;
        c.no_context_takeover = true;
        c.peer_no_context_takeover = true;
        assert_eq!(
            offer(&c).to_string(),
            "permessage-deflate; client_max_window_bits=10; server_max_window_bits=9; \
             client_no_context_takeover; server_no_context_takeover"
        );
        // A server configured like ours accepts our offer as made.
        assert_eq!(
            accept_offers(&[offer(&c)], &c).map(|(p, _)| p),
            Some(params(9, 9, true, true))
        );
        // Out-of-range configuration is clamped.
        c.max_window_bits = 3;
        c.peer_max_window_bits = 40;
        assert_eq!(
            offer(&c).to_string(),
            "permessage-deflate; client_max_window_bits=8; client_no_context_takeover; server_no_context_takeover"
        );
    }

    #[test]
    fn client_checks_the_answer() {
        let c = config();
        let check = |answer: &str, c: &DeflateConfig| check_answer(&ext(answer)[0], c);
        assert_eq!(
            check("permessage-deflate", &c),
            Ok(params(15, 15, false, false))
        );
        assert_eq!(
            check(
                "permessage-deflate; client_max_window_bits=8; server_max_window_bits=9; \
                 server_no_context_takeover; client_no_context_takeover",
                &c
            ),
            Ok(params(8, 9, true, true))
        );
        for (answer, reason) in [
            (
                "permessage-deflate; client_max_window_bits",
                BadParams::InvalidValue,
            ),
            ("permessage-deflate; bogus", BadParams::Unknown),
            (
                "permessage-deflate; server_max_window_bits=16",
                BadParams::InvalidValue,
            ),
            (
                "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
                BadParams::Repeated,
            ),
        ] {
            assert_eq!(check(answer, &c), Err(reason), "{answer}");
        }
        let mut strict = config();
        strict.peer_max_window_bits = 10;
        strict.peer_no_context_takeover = true;
        strict.max_window_bits = 12;
        let ok = "permessage-deflate; server_max_window_bits=10; server_no_context_takeover";
        assert_eq!(check(ok, &strict), Ok(params(12, 10, false, true)));
        for (answer, reason) in [
            (
                "permessage-deflate; server_max_window_bits=10",
                BadParams::Missing(SERVER_NO_CONTEXT_TAKEOVER),
            ),
            (
                "permessage-deflate; server_no_context_takeover",
                BadParams::Missing(SERVER_MAX_WINDOW_BITS),
            ),
            (
                "permessage-deflate; server_max_window_bits=11; server_no_context_takeover",
                BadParams::TooLarge(SERVER_MAX_WINDOW_BITS),
            ),
            (
                "permessage-deflate; server_max_window_bits=9; server_no_context_takeover; client_max_window_bits=13",
                BadParams::TooLarge(CLIENT_MAX_WINDOW_BITS),
            ),
        ] {
            assert_eq!(check(answer, &strict), Err(reason), "{answer}");
        }
    }
}
