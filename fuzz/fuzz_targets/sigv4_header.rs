//! libFuzzer entry for `sealgate::fuzzing::sigv4_header`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| sealgate::fuzzing::sigv4_header(data));
