//! The frame decoder in the server role (masked frames); see `wsproto_fuzz::decode`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wsproto_fuzz::decode::check(wsproto::Role::Server, data));
