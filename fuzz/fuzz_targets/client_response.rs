//! The client's response parser (`ClientHandshake`); see `wsproto_fuzz::handshake`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wsproto_fuzz::handshake::check_client(data));
