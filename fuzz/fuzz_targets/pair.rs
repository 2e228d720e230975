//! A client and a server driven through an `Arbitrary` script; see `wsproto_fuzz::pair`.
#![no_main]

libfuzzer_sys::fuzz_target!(|script: wsproto_fuzz::pair::Script| wsproto_fuzz::pair::check(script));
