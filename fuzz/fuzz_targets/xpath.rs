#![no_main]
//! See `axon::fuzzing::xpath`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| axon::fuzzing::xpath(data));
