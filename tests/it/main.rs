//! The integration tests, one crate linked once (not one binary per file):
//! each module below is the file of its name, which opens with what it
//! covers. Run one with `cargo test --all-features --test it levels::`.
//!
//! The tests that install a counting global allocator are the other test
//! crate, `tests/heap/`. The helpers both crates share are `tests/common/`.

// `echo_client` and `echo_servers` each load the example servers they run
// (and each example its own `mod support;`): copies, on purpose.
#![allow(clippy::duplicate_mod)]

// `common` needs `Connection`.
#[cfg(feature = "alloc")]
#[path = "../common/mod.rs"]
mod common;

// It loads `examples/autobahn_client.rs` as `autobahn_client` too.
#[allow(clippy::module_inception)]
mod autobahn_client;
mod backpressure;
mod behaviour_table;
mod bytes;
mod close_model_prop;
mod decoder;
mod deflate;
mod deflate_audit;
mod deflate_prop;
mod differential;
mod echo_client;
mod echo_servers;
mod handshake;
mod handshake_client;
mod handshake_prop;
mod handshake_timeout;
mod hostile_prop;
mod levels;
mod pair;
mod rfc_vectors;
mod roundtrip_prop;
mod send_errors;
mod send_in_place;
mod send_owned;
mod split_points;
mod timers;
