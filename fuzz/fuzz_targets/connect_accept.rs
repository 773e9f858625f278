#![no_main]
//! `connect_accept`: see `winpipe::fuzzing::connect_accept`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| winpipe::fuzzing::connect_accept(data));
