//! libFuzzer entry for `sealgate::fuzzing::range_header`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| sealgate::fuzzing::range_header(data));
