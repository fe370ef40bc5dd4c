#![no_main]
//! See `axon::fuzzing::uri_template`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| axon::fuzzing::uri_template(data));
