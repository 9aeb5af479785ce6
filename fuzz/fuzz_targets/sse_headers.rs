//! libFuzzer entry for `sealgate::fuzzing::sse_headers`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| sealgate::fuzzing::sse_headers(data));
