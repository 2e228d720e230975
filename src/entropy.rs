//! Where client masking keys come from.
//!
//! RFC 6455 section 5.3 asks for masks that a script cannot predict. The
//! default source, [`OsEntropy`], is ChaCha12 seeded once from the operating
//! system's generator; tests and special environments supply their own
//! [`EntropySource`].

use core::fmt;

#[cfg(feature = "std")]
use crate::prelude::Box;
#[cfg(feature = "std")]
use chacha20::ChaCha12Rng;
#[cfg(feature = "std")]
use chacha20::rand_core::{Rng, SeedableRng};

/// A source of unpredictable bytes for masking keys (and, later, handshake
/// keys).
pub trait EntropySource: Send {
    /// Fills `dest` entirely with fresh random bytes.
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), EntropyError>;
}

/// The entropy source failed; no frame was produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntropyError {
    os_code: Option<i32>,
}

impl EntropyError {
    /// An error from a custom source, with an optional OS error code.
    pub const fn new(os_code: Option<i32>) -> Self {
        EntropyError { os_code }
    }

    /// The operating system's error code, if the OS reported one.
    pub const fn os_code(&self) -> Option<i32> {
        self.os_code
    }
}

impl fmt::Display for EntropyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.os_code {
            Some(code) => write!(f, "entropy source failed (os error {code})"),
            None => f.write_str("entropy source failed"),
        }
    }
}

impl core::error::Error for EntropyError {}

/// The default source: ChaCha12 keyed with 32 bytes from the operating
/// system's generator (via `getrandom`), so a connection makes one system
/// call, at its first draw, instead of one per few frames; a mask then
/// costs a few nanoseconds. Needs the `std` feature.
///
/// RFC 6455 section 10.3 asks that the next mask not be predictable from
/// the ones already sent, which travel in the clear: ChaCha's keystream
/// reveals nothing of its key or of the bytes still to come, and its key
/// comes from the OS. Twelve rounds is `rand`'s `StdRng` choice (the best
/// published attacks reach about seven). There is no reseeding: the 64-bit
/// block counter lasts 2^64 blocks (1 ZiB), and whoever could read the
/// state from the process's memory could read the payloads as well. Each
/// source belongs to one connection (nothing global), each byte is handed
/// out once, and a clone is a new unseeded source, never a copy of the
/// stream.
#[cfg(feature = "std")]
pub struct OsEntropy {
    /// `None` until the first [`fill`](EntropySource::fill), so that `new`
    /// stays `const` and a server (which never masks) never makes the call.
    /// Boxed: the state is ~320 bytes (a 256-byte keystream buffer), and
    /// the connection's key-source slot, which servers carry too, should
    /// stay two words.
    rng: Option<Box<ChaCha12Rng>>,
}

#[cfg(feature = "std")]
impl OsEntropy {
    /// A source that will seed itself from the OS generator on first use.
    pub const fn new() -> Self {
        OsEntropy { rng: None }
    }

    /// A source already keyed with `seed`: for the tests here, which compare
    /// differently seeded streams without the OS. Not public: a fixed seed
    /// would make every connection's masks the same.
    #[cfg(test)]
    fn seeded(seed: [u8; 32]) -> Self {
        OsEntropy {
            rng: Some(Box::new(ChaCha12Rng::from_seed(seed))),
        }
    }
}

#[cfg(feature = "std")]
impl Default for OsEntropy {
    fn default() -> Self {
        Self::new()
    }
}

/// A clone is a new, unseeded source, not a copy of the state: a copy would
/// hand out the same keys as the original.
#[cfg(feature = "std")]
impl Clone for OsEntropy {
    fn clone(&self) -> Self {
        Self::new()
    }
}

#[cfg(feature = "std")]
impl fmt::Debug for OsEntropy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the generator's state: it is every future mask.
        f.write_str("OsEntropy")
    }
}

#[cfg(feature = "std")]
impl EntropySource for OsEntropy {
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), EntropyError> {
        let rng = match &mut self.rng {
            Some(rng) => rng,
            // A failed seeding leaves the source unseeded, to try again.
            None => self
                .rng
                .insert(Box::new(ChaCha12Rng::from_seed(os_seed()?))),
        };
        // The generator hands out whole 4-byte words of keystream from a
        // 256-byte buffer and drops the unused end of a last partial word,
        // so no byte is handed out twice (the tests pin this).
        rng.fill_bytes(dest);
        Ok(())
    }
}

/// A ChaCha key from the operating system's generator.
#[cfg(feature = "std")]
fn os_seed() -> Result<[u8; 32], EntropyError> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(os_error)?;
    Ok(seed)
}

#[cfg(feature = "std")]
fn os_error(error: getrandom::Error) -> EntropyError {
    EntropyError::new(error.raw_os_error())
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;

    /// One ChaCha block as RFC 8439 section 2.3 lays it out (32-bit counter,
    /// 96-bit nonce), with `rounds` rounds: an independent reference for
    /// what the dependency computes.
    fn reference_block(key: &[u8; 32], counter: u32, nonce: [u32; 3], rounds: usize) -> [u8; 64] {
        fn quarter(s: &mut [u32; 16], a: usize, b: usize, c: usize, d: usize) {
            s[a] = s[a].wrapping_add(s[b]);
            s[d] = (s[d] ^ s[a]).rotate_left(16);
            s[c] = s[c].wrapping_add(s[d]);
            s[b] = (s[b] ^ s[c]).rotate_left(12);
            s[a] = s[a].wrapping_add(s[b]);
            s[d] = (s[d] ^ s[a]).rotate_left(8);
            s[c] = s[c].wrapping_add(s[d]);
            s[b] = (s[b] ^ s[c]).rotate_left(7);
        }
        let mut state = [0u32; 16];
        state[..4].copy_from_slice(&[0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574]);
        for (word, bytes) in state[4..12].iter_mut().zip(key.chunks_exact(4)) {
            *word = u32::from_le_bytes(bytes.try_into().unwrap());
        }
        state[12] = counter;
        state[13..].copy_from_slice(&nonce);
        let mut working = state;
        for _ in 0..rounds / 2 {
            quarter(&mut working, 0, 4, 8, 12);
            quarter(&mut working, 1, 5, 9, 13);
            quarter(&mut working, 2, 6, 10, 14);
            quarter(&mut working, 3, 7, 11, 15);
            quarter(&mut working, 0, 5, 10, 15);
            quarter(&mut working, 1, 6, 11, 12);
            quarter(&mut working, 2, 7, 8, 13);
            quarter(&mut working, 3, 4, 9, 14);
        }
        let mut block = [0u8; 64];
        for (i, bytes) in block.chunks_exact_mut(4).enumerate() {
            bytes.copy_from_slice(&working[i].wrapping_add(state[i]).to_le_bytes());
        }
        block
    }

    fn counting_key() -> [u8; 32] {
        core::array::from_fn(|i| i as u8)
    }

    #[test]
    fn reference_block_matches_rfc_8439() {
        // Section 2.3.2: key 00..1f, nonce 00:00:00:09:00:00:00:4a:00:00:00:00,
        // block count 1, ChaCha20.
        let nonce = [0x0900_0000, 0x4a00_0000, 0];
        let expected = [
            0x10, 0xf1, 0xe7, 0xe4, 0xd1, 0x3b, 0x59, 0x15, 0x50, 0x0f, 0xdd, 0x1f, 0xa3, 0x20,
            0x71, 0xc4, 0xc7, 0xd1, 0xf4, 0xc7, 0x33, 0xc0, 0x68, 0x03, 0x04, 0x22, 0xaa, 0x9a,
            0xc3, 0xd4, 0x6c, 0x4e, 0xd2, 0x82, 0x64, 0x46, 0x07, 0x9f, 0xaa, 0x09, 0x14, 0xc2,
            0xd7, 0x05, 0xd9, 0x8b, 0x02, 0xa2, 0xb5, 0x12, 0x9c, 0xd1, 0xde, 0x16, 0x4e, 0xb9,
            0xcb, 0xd0, 0x83, 0xe8, 0xa2, 0x50, 0x3c, 0x4e,
        ];
        assert_eq!(reference_block(&counting_key(), 1, nonce, 20), expected);
    }

    #[test]
    fn seeded_source_hands_out_chacha12_keystream_once_in_order() {
        // Nonce zero and a counter under 2^32: the generator's 64-bit
        // counter layout gives the same blocks as RFC 8439's.
        let key = counting_key();
        let keystream: Vec<u8> = (0..24)
            .flat_map(|counter| reference_block(&key, counter, [0; 3], 12))
            .collect();
        let mut source = OsEntropy::seeded(key);
        let mut at = 0;
        // Masks, the handshake's 16-byte nonce, odd sizes (the rest of a
        // started word is dropped, never handed out later) and requests
        // longer than a block and than the generator's 256-byte buffer.
        for len in [4, 4, 16, 1, 3, 2, 4, 65, 300, 4, 1000, 4] {
            let mut dest = vec![0u8; len];
            source.fill(&mut dest).unwrap();
            assert_eq!(dest, keystream[at..at + len], "draw of {len} at {at}");
            at += len.div_ceil(4) * 4;
        }
    }

    #[test]
    fn differently_seeded_sources_differ() {
        let mut other_key = counting_key();
        other_key[31] ^= 1;
        let draw = |seed| {
            let mut source = OsEntropy::seeded(seed);
            let mut out = [0u8; 64];
            source.fill(&mut out).unwrap();
            out
        };
        assert_eq!(draw(counting_key()), draw(counting_key()));
        assert_ne!(draw(counting_key()), draw(other_key));
    }

    #[test]
    fn os_seeded_masks_are_distinct_and_sources_independent() {
        let mut source = OsEntropy::new();
        let mut masks = Vec::new();
        // 200 masks: 800 bytes, across several of the generator's buffers.
        for _ in 0..200 {
            let mut mask = [0u8; 4];
            source.fill(&mut mask).unwrap();
            masks.push(u32::from_ne_bytes(mask));
        }
        masks.sort_unstable();
        masks.dedup();
        // 200 draws from 2^32 collide with probability ~5e-6.
        assert_eq!(masks.len(), 200);
        let mut big = [0u8; 1000];
        source.fill(&mut big).unwrap();
        assert!(big.iter().any(|&b| b != 0));

        // Two connections' sources are seeded apart.
        let mut a = [0u8; 32];
        let mut b = [0u8; 32];
        OsEntropy::new().fill(&mut a).unwrap();
        OsEntropy::new().fill(&mut b).unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn clone_reseeds_and_debug_shows_no_state() {
        let mut original = OsEntropy::seeded(counting_key());
        let mut copy = original.clone();
        let mut a = [0u8; 32];
        let mut b = [0u8; 32];
        original.fill(&mut a).unwrap();
        copy.fill(&mut b).unwrap();
        assert_ne!(a, b, "a clone must not repeat the original's keys");
        assert_eq!(format!("{original:?}"), "OsEntropy");
    }
}
