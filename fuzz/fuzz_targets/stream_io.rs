#![no_main]
//! `stream_io`: see `winpipe::fuzzing::stream_io`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| winpipe::fuzzing::stream_io(data));
