//! The tokio driver over an in-memory transport with arbitrary read and
//! write splits, against the core alone; see `wsproto_fuzz::driver`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wsproto_fuzz::driver::check(data));
