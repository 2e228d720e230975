//! zlib state lent between connections: a connection without context
//! takeover needs a compressor and a decompressor only while a message
//! passes, so instead of allocating them for every message (373 + 46 KiB
//! with 15-bit windows) it borrows them from a [`DeflatePool`] and gives
//! them back, reset, when the message ends.

use crate::prelude::*;

use alloc::sync::Arc;
use core::fmt;
use flate2::{Compress, Compression, Decompress};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Spare zlib state shared by the connections of a server (or a client),
/// so that messages compressed without context takeover do not allocate
/// it each time.
///
/// Without a pool, a connection without context takeover allocates its
/// compressor when a message is compressed and frees it when the message
/// ends, and the same for its decompressor: nothing is held between
/// messages, but each message allocates and frees 420 KiB (15-bit windows).
/// That costs time, and, with many connections, memory: the allocator
/// seldom hands those freed blocks back to the system once smaller,
/// long-lived allocations land between them (glibc's per-thread caches
/// keep about 330 KB for every thread that compressed once). With a pool,
/// the state a message used waits, reset, for the next message of any
/// connection: the process holds about as many compressors as messages
/// are compressed at once, however many connections are open.
///
/// A connection with context takeover keeps its state for its life; it
/// takes it from the pool at its first message and gives it back when it
/// is dropped. A compressor is only lent to a connection that compresses
/// with the same level and window size. The pool keeps at most
/// `max_spares` compressors and as many decompressors; what comes back
/// beyond that is freed.
///
/// Set it in [`DeflateConfig::pool`](crate::DeflateConfig::pool); clones
/// share the same spares, so one configuration cloned for every
/// connection shares one pool.
///
/// ```
/// use wsproto::handshake::{Accept, ClientHandshake, ClientRequest, ServerHandshake};
/// use wsproto::{Config, DeflatePool, Event};
///
/// let mut config = Config::default();
/// config.deflate.enabled = true;
/// config.deflate.no_context_takeover = true;
/// config.deflate.peer_no_context_takeover = true;
/// let pool = DeflatePool::new(16);
/// config.deflate.pool = Some(pool.clone());
///
/// for _ in 0..3 {
///     let mut client =
///         ClientHandshake::new(&ClientRequest::new("ws://example.com/")?, config.clone())?;
///     let request = ServerHandshake::new(&config)
///         .recv(client.request_bytes())?
///         .expect("whole request");
///     let response = request.accept(&Accept::new())?;
///     let mut server = request.into_connection(config.clone());
///     let mut client = client.recv(&response.to_bytes())?.expect("whole response").into_connection();
///
///     let text = "a message that repeats itself, a message that repeats itself";
///     client.send_text(text)?;
///     let mut wire = Vec::new();
///     client.poll_transmit(&mut wire);
///     server.recv(&wire);
///     assert_eq!(server.poll_event()?, Some(Event::Text(text.into())));
/// }
/// // Three connections, one message each: one compressor and one
/// // decompressor were made, and wait for the next message.
/// assert_eq!((pool.spare_compressors(), pool.spare_decompressors()), (1, 1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct DeflatePool {
    spares: Arc<Mutex<Spares>>,
}

/// What a [`DeflatePool`] holds.
struct Spares {
    max: usize,
    /// Each with the level and zlib window bits it was made with.
    compressors: Vec<(CompressorKind, Compress)>,
    /// All raw, with 15-bit windows (`Inflater` always inflates with those).
    decompressors: Vec<Decompress>,
}

/// What a compressor was made for: zlib cannot change its window size
/// afterwards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CompressorKind {
    pub(crate) level: u32,
    pub(crate) window_bits: u8,
}

impl CompressorKind {
    /// A new raw compressor of this kind.
    pub(crate) fn make(self) -> Compress {
        Compress::new_with_window_bits(Compression::new(self.level), false, self.window_bits)
    }
}

impl DeflatePool {
    /// A pool that keeps at most `max_spares` compressors and as many
    /// decompressors between messages. About the number of messages a
    /// process compresses at once (its threads, for small messages) is
    /// enough; 0 keeps nothing (as no pool).
    pub fn new(max_spares: usize) -> Self {
        DeflatePool {
            spares: Arc::new(Mutex::new(Spares {
                max: max_spares,
                compressors: Vec::new(),
                decompressors: Vec::new(),
            })),
        }
    }

    /// Compressors waiting for a message.
    pub fn spare_compressors(&self) -> usize {
        self.lock().compressors.len()
    }

    /// Decompressors waiting for a message.
    pub fn spare_decompressors(&self) -> usize {
        self.lock().decompressors.len()
    }

    /// Frees every spare (state lent out now comes back as usual).
    pub fn clear(&self) {
        let (compressors, decompressors) = {
            let mut spares = self.lock();
            (
                core::mem::take(&mut spares.compressors),
                core::mem::take(&mut spares.decompressors),
            )
        };
        // Freed outside the lock.
        drop((compressors, decompressors));
    }

    /// A spare compressor of `kind`, if one waits.
    pub(crate) fn take_compressor(&self, kind: CompressorKind) -> Option<Compress> {
        let mut spares = self.lock();
        let at = spares.compressors.iter().rposition(|(k, _)| *k == kind)?;
        Some(spares.compressors.swap_remove(at).1)
    }

    /// Takes back a compressor of `kind`, reset (outside the lock: it
    /// clears the hash table), or frees it if the pool is full.
    pub(crate) fn give_compressor(&self, kind: CompressorKind, mut compress: Compress) {
        compress.reset();
        let mut spares = self.lock();
        if spares.compressors.len() < spares.max {
            spares.compressors.push((kind, compress));
        } else {
            drop(spares);
            drop(compress);
        }
    }

    /// A spare decompressor, if one waits.
    pub(crate) fn take_decompressor(&self) -> Option<Decompress> {
        self.lock().decompressors.pop()
    }

    /// Takes back a decompressor (reset, whatever state the message left
    /// it in, a failed one included), or frees it if the pool is full.
    pub(crate) fn give_decompressor(&self, mut decompress: Decompress) {
        decompress.reset(false);
        let mut spares = self.lock();
        if spares.decompressors.len() < spares.max {
            spares.decompressors.push(decompress);
        } else {
            drop(spares);
            drop(decompress);
        }
    }

    /// The spares. A panic while the lock was held (only an allocation
    /// failure could cause one) leaves the lists valid, so poisoning is
    /// ignored.
    fn lock(&self) -> MutexGuard<'_, Spares> {
        self.spares.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for DeflatePool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let spares = self.lock();
        f.debug_struct("DeflatePool")
            .field("max_spares", &spares.max)
            .field("spare_compressors", &spares.compressors.len())
            .field("spare_decompressors", &spares.decompressors.len())
            .finish()
    }
}

/// Pools are equal when they are the same pool (clones of one another), so
/// that two configurations sharing one compare equal.
impl PartialEq for DeflatePool {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.spares, &other.spares)
    }
}

impl Eq for DeflatePool {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deflate::tests::params;
    use crate::deflate::{DeflateConfig, Deflater, Inflater};

    fn pooled(pool: &DeflatePool, level: u8) -> DeflateConfig {
        DeflateConfig {
            pool: Some(pool.clone()),
            level,
            ..DeflateConfig::default()
        }
    }

    fn compress(deflater: &mut Deflater, message: &[u8]) -> Vec<u8> {
        let mut wire = Vec::new();
        deflater.compress(message, &mut wire, true).unwrap();
        wire
    }

    /// Inflates one whole message; `None` if it is not valid DEFLATE.
    fn inflate(inflater: &mut Inflater, wire: &[u8]) -> Option<Vec<u8>> {
        inflater.push(wire);
        inflater.finish();
        let mut out = Vec::new();
        let mut buf = [0u8; 256];
        loop {
            let step = inflater.inflate(&mut buf);
            out.extend_from_slice(&buf[..step.written]);
            if step.invalid {
                return None;
            }
            if step.done {
                return Some(out);
            }
        }
    }

    #[test]
    fn a_lent_compressor_starts_from_an_empty_window() {
        let first = b"a first message, which the next one repeats: a first message";
        let second = b"a first message, which the next one repeats: a first message!";
        for bits in 8..=15 {
            let p = params(bits, bits, true, true);
            let pool = DeflatePool::new(4);
            let config = pooled(&pool, 6);
            let mut one = Deflater::new(&p, &config);
            compress(&mut one, first);
            assert_eq!(pool.spare_compressors(), 1, "bits {bits}");
            // Another connection gets the same state, and compresses as a
            // fresh one would: nothing of the first message is reached.
            let mut two = Deflater::new(&p, &config);
            let reused = compress(&mut two, second);
            assert_eq!(pool.spare_compressors(), 1, "bits {bits}");
            let fresh = compress(&mut Deflater::new(&p, &DeflateConfig::default()), second);
            assert_eq!(reused, fresh, "bits {bits}");
        }
    }

    #[test]
    fn a_lent_decompressor_is_reset_even_after_bad_data() {
        let p = params(15, 15, true, true);
        let pool = DeflatePool::new(4);
        let mut failed = Inflater::new(&p, Some(pool.clone()));
        assert_eq!(inflate(&mut failed, &[0xff, 0xff, 0xff]), None);
        // A failed connection is dropped; its state goes back reset.
        drop(failed);
        assert_eq!(pool.spare_decompressors(), 1);
        let wire = compress(
            &mut Deflater::new(&p, &DeflateConfig::default()),
            b"hello hello hello hello",
        );
        let mut next = Inflater::new(&p, Some(pool.clone()));
        assert_eq!(
            inflate(&mut next, &wire).as_deref(),
            Some(&b"hello hello hello hello"[..])
        );
        assert_eq!(pool.spare_decompressors(), 1);
        // One stopped halfway through a message gives its state back too.
        let mut halfway = Inflater::new(&p, Some(pool.clone()));
        halfway.push(&wire[..wire.len() / 2]);
        let _ = halfway.inflate(&mut [0u8; 4]);
        assert_eq!(pool.spare_decompressors(), 0);
        drop(halfway);
        assert_eq!(pool.spare_decompressors(), 1);
        assert_eq!(
            inflate(&mut Inflater::new(&p, Some(pool.clone())), &wire).as_deref(),
            Some(&b"hello hello hello hello"[..])
        );
    }

    #[test]
    fn compressors_are_lent_only_to_their_kind() {
        let pool = DeflatePool::new(4);
        let message = b"some text, some text, some text";
        compress(
            &mut Deflater::new(&params(15, 15, true, true), &pooled(&pool, 6)),
            message,
        );
        // Another window size or level makes its own.
        for (bits, level) in [(10, 6), (15, 1)] {
            let p = params(bits, bits, true, true);
            let wire = compress(&mut Deflater::new(&p, &pooled(&pool, level)), message);
            let config = DeflateConfig {
                level,
                ..DeflateConfig::default()
            };
            assert_eq!(wire, compress(&mut Deflater::new(&p, &config), message));
        }
        assert_eq!(pool.spare_compressors(), 3);
        let kinds: Vec<_> = pool.lock().compressors.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            kinds,
            [(6, 15), (6, 10), (1, 15)]
                .map(|(level, window_bits)| CompressorKind { level, window_bits })
        );
    }

    #[test]
    fn the_pool_keeps_at_most_its_spares_and_clear_frees_them() {
        let p = params(15, 15, true, true);
        let pool = DeflatePool::new(2);
        let config = pooled(&pool, 6);
        // Three messages in progress at once: three compressors.
        let mut deflaters: Vec<_> = (0..3).map(|_| Deflater::new(&p, &config)).collect();
        let mut wire = Vec::new();
        for deflater in &mut deflaters {
            deflater.compress(b"part", &mut wire, false).unwrap();
        }
        assert_eq!(pool.spare_compressors(), 0);
        for deflater in &mut deflaters {
            deflater.compress(b"", &mut wire, true).unwrap();
        }
        assert_eq!(pool.spare_compressors(), 2);
        pool.clear();
        assert_eq!(pool.spare_compressors(), 0);
        // A pool of none keeps nothing.
        let none = DeflatePool::new(0);
        compress(&mut Deflater::new(&p, &pooled(&none, 6)), b"text");
        assert_eq!(none.spare_compressors(), 0);
    }

    #[test]
    fn with_context_takeover_the_state_comes_back_when_the_connection_ends() {
        let p = params(15, 15, false, false);
        let pool = DeflatePool::new(4);
        let mut deflater = Deflater::new(&p, &pooled(&pool, 6));
        let mut inflater = Inflater::new(&p, Some(pool.clone()));
        for _ in 0..2 {
            let wire = compress(&mut deflater, b"kept across messages, kept across");
            assert!(inflate(&mut inflater, &wire).is_some());
            assert_eq!(
                (pool.spare_compressors(), pool.spare_decompressors()),
                (0, 0)
            );
        }
        drop((deflater, inflater));
        assert_eq!(
            (pool.spare_compressors(), pool.spare_decompressors()),
            (1, 1)
        );
    }

    #[test]
    fn clones_are_one_pool() {
        let pool = DeflatePool::new(1);
        assert_eq!(pool, pool.clone());
        assert_ne!(pool, DeflatePool::new(1));
        assert_eq!(
            format!("{pool:?}"),
            "DeflatePool { max_spares: 1, spare_compressors: 0, spare_decompressors: 0 }"
        );
    }
}
