#![no_main]
//! See `axon::fuzzing::json_xml`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| axon::fuzzing::json_xml(data));
