#![no_main]
//! See `axon::fuzzing::soap`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| axon::fuzzing::soap(data));
