#![no_main]
//! `message_io`: see `winpipe::fuzzing::message_io`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| winpipe::fuzzing::message_io(data));
