//! The frame decoder in the client role (unmasked frames); see `wsproto_fuzz::decode`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wsproto_fuzz::decode::check(wsproto::Role::Client, data));
