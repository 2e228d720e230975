//! A connection with permessage-deflate fed hostile compressed frames; see `wsproto_fuzz::deflate`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wsproto_fuzz::deflate::check(data));
