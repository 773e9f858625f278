#![no_main]
//! `sid`: see `winpipe::fuzzing::sid`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| winpipe::fuzzing::sid(data));
