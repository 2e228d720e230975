//! The tests that count heap allocations: the other test crate beside
//! `tests/it/`. A global allocator is one per binary, so these tests share
//! one, `counting.rs`, which counts per thread (each test runs on a thread
//! of its own), and the rest of the suite runs on the system allocator.
//! Run them with `cargo test --all-features --test heap`.

// `common` needs `Connection`.
#[cfg(feature = "alloc")]
#[path = "../common/mod.rs"]
mod common;
mod counting;

mod deflate_memory;
mod footprint;
mod linear_work;
