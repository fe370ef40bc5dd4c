#![no_main]
//! See `axon::fuzzing::grpc`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| axon::fuzzing::grpc(data));
