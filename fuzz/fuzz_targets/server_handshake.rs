//! The server's request parser (`ServerHandshake`); see `wsproto_fuzz::handshake`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wsproto_fuzz::handshake::check_server(data));
