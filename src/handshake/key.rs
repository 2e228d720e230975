//! The key exchange of RFC 6455 section 4: the client's
//! `Sec-WebSocket-Key` and the server's `Sec-WebSocket-Accept` derived from
//! it. Both handshakes use it; it lives apart from `mod.rs` so that the
//! module's root only declares and re-exports, and no file in `handshake/`
//! imports back from it.

use crate::prelude::*;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha1::{Digest as _, Sha1};

/// The GUID of RFC 6455 section 1.3, appended to the key before hashing.
const WEBSOCKET_GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The `Sec-WebSocket-Accept` value for a `Sec-WebSocket-Key`: the base64
/// of the SHA-1 of the key followed by the RFC's GUID.
///
/// ```
/// let accept = wsproto::handshake::accept_key(b"dGhlIHNhbXBsZSBub25jZQ==");
/// assert_eq!(&accept, b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
/// ```
pub fn accept_key(key: &[u8]) -> [u8; 28] {
    let digest = Sha1::new()
        .chain_update(key)
        .chain_update(WEBSOCKET_GUID)
        .finalize();
    let mut accept = [0u8; 28];
    // 20 bytes always encode to exactly 28 base64 characters.
    let written = BASE64.encode_slice(digest, &mut accept).unwrap_or(0);
    debug_assert_eq!(written, 28);
    accept
}

/// Whether `key` is the base64 of exactly 16 bytes, as section 4.1 requires
/// (24 characters with canonical padding).
pub(crate) fn is_valid_key(key: &str) -> bool {
    let mut decoded = [0u8; 18];
    key.len() == 24 && BASE64.decode_slice(key, &mut decoded) == Ok(16)
}

/// The `Sec-WebSocket-Key` for 16 random bytes.
pub(crate) fn encode_key(nonce: &[u8; 16]) -> String {
    BASE64.encode(nonce)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_sample_key() {
        assert_eq!(
            &accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn key_must_be_sixteen_bytes_of_canonical_base64() {
        assert!(is_valid_key("dGhlIHNhbXBsZSBub25jZQ=="));
        assert!(!is_valid_key("dGhlIHNhbXBsZSBub25jZQ")); // unpadded
        assert!(!is_valid_key("dGhlIHNhbXBsZSBub25jZR==")); // non-zero trailing bits
        assert!(!is_valid_key("dGhlIHNhbXBsZSBub25jZQ==AAAA")); // 19 bytes
        assert!(!is_valid_key("dGhlIHNhbXBsZSBub25j")); // 15 bytes
        assert!(!is_valid_key("dGhlIHNhbXBsZSBub25jZ!=="));
        assert_eq!(encode_key(b"the sample nonce"), "dGhlIHNhbXBsZSBub25jZQ==");
    }
}
