//! libFuzzer entry for `sealgate::fuzzing::checksum_headers`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| sealgate::fuzzing::checksum_headers(data));
