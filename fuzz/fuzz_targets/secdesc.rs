#![no_main]
//! `secdesc`: see `winpipe::fuzzing::secdesc`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| winpipe::fuzzing::secdesc(data));
