#![no_main]
//! See `axon::fuzzing::config`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| axon::fuzzing::config(data));
