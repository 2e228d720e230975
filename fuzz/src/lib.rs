//! The harness behind the fuzz targets in `fuzz_targets/`: each target is a
//! thin `fuzz_target!` around one function here, so the invariants read in
//! one place. Every function panics (which libFuzzer reports as a crash)
//! when an invariant of `docs/security.md` is broken, not only on a panic
//! inside the crate.

pub mod bytes_level;
pub mod decode;
pub mod deflate;
pub mod driver;
pub mod frames;
pub mod handshake;
pub mod heap;
pub mod input;
pub mod negotiation;
pub mod pair;
