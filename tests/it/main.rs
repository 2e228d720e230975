//! The integration tests, one crate linked once (not one binary per file):
//! each module below is the file of its name, which opens with what it
//! covers. Run one with `cargo test --all-features --test it levels::`.
//!
//! The tests that install a counting global allocator are the other test
//! crate, `tests/heap/`. The helpers both crates share are `tests/common/`.

// The example echo servers and client are tested by the driver crate
// (`wsproto-tokio/tests/echo_servers.rs`, `echo_client.rs`): its tokio
// examples run there, next to the blocking and mio ones.

// `common` needs `Connection`.
#[cfg(feature = "alloc")]
#[path = "../common/mod.rs"]
mod common;

mod allowance;
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
mod extended_connect_client;
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
