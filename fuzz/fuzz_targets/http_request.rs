#![no_main]
//! See `axon::fuzzing::http_request`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| axon::fuzzing::http_request(data));
