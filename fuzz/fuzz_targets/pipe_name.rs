#![no_main]
//! `pipe_name`: see `winpipe::fuzzing::pipe_name`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| winpipe::fuzzing::pipe_name(data));
