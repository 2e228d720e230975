//! How a raw fuzz input becomes a configuration, a chunking and a byte
//! stream: the first two bytes choose, the rest is the stream.

use wsproto::{Config, DeflateParams, EntropyError, EntropySource};

/// What the first two bytes of an input chose.
#[derive(Clone, Debug)]
pub struct Setup {
    pub config: Config,
    /// The largest chunk the stream is cut into; 0 feeds it whole.
    pub max_chunk: usize,
    /// Seed for the chunk sizes.
    pub seed: u8,
    /// Whether the transport ends (`recv_eof`) after the last chunk.
    pub eof: bool,
    /// permessage-deflate in force on the connection, if any (only the
    /// `deflate` target sets it; see `crate::deflate`).
    pub deflate: Option<DeflateParams>,
}

/// Limits small enough for a fuzz input to reach every one of them (a
/// message over the limit takes two fragments).
pub fn small_config() -> Config {
    let mut config = Config::default();
    config.max_frame_len = 200;
    config.max_message_len = 300;
    config.max_handshake_len = 512;
    config.max_headers = 8;
    config
}

/// Splits `data` into its setup and the byte stream.
///
/// Byte 0: bit 0 small limits, bit 1 auto pong off, bit 2 end of stream
/// after the input. Byte 1: the largest chunk (0 = whole), which also
/// seeds the chunk sizes.
pub fn split_setup(data: &[u8]) -> (Setup, &[u8]) {
    let (flags, chunking, rest) = match data {
        [flags, chunking, rest @ ..] => (*flags, *chunking, rest),
        _ => (0, 0, data),
    };
    let mut config = if flags & 1 != 0 {
        small_config()
    } else {
        Config::default()
    };
    config.auto_pong = flags & 2 == 0;
    let setup = Setup {
        config,
        max_chunk: usize::from(chunking),
        seed: chunking,
        eof: flags & 4 != 0,
        deflate: None,
    };
    (setup, rest)
}

/// Cuts `bytes` into chunks of pseudo-random sizes in `1..=max_chunk`, or
/// one chunk if `max_chunk` is 0. An empty stream is one empty chunk.
pub fn chunks(bytes: &[u8], max_chunk: usize, seed: u8) -> Vec<&[u8]> {
    if max_chunk == 0 || bytes.is_empty() {
        return vec![bytes];
    }
    let mut sizes = Xorshift::new(u64::from(seed));
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let size = 1 + (sizes.next_u64() as usize % max_chunk);
        let (chunk, tail) = rest.split_at(size.min(rest.len()));
        out.push(chunk);
        rest = tail;
    }
    out
}

/// A deterministic generator: chunk sizes, and masking keys for clients so
/// two runs of the same input send the same bytes.
#[derive(Clone, Debug)]
pub struct Xorshift(u64);

impl Xorshift {
    pub fn new(seed: u64) -> Self {
        Xorshift(seed ^ 0x9e37_79b9_7f4a_7c15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

impl EntropySource for Xorshift {
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), EntropyError> {
        for byte in dest {
            *byte = (self.next_u64() >> 24) as u8;
        }
        Ok(())
    }
}

/// Zero bytes for the first `zeros` bytes asked (the client's handshake
/// nonce, so seeds can carry its accept key), then [`Xorshift`].
#[derive(Clone, Debug)]
pub struct ZeroNonce {
    zeros: usize,
    then: Xorshift,
}

impl ZeroNonce {
    pub fn new() -> Self {
        ZeroNonce {
            zeros: 16,
            then: Xorshift::new(1),
        }
    }
}

impl Default for ZeroNonce {
    fn default() -> Self {
        Self::new()
    }
}

impl EntropySource for ZeroNonce {
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), EntropyError> {
        for byte in dest {
            if self.zeros > 0 {
                self.zeros -= 1;
                *byte = 0;
            } else {
                *byte = (self.then.next_u64() >> 24) as u8;
            }
        }
        Ok(())
    }
}
