//! libFuzzer entry for `sealgate::fuzzing::sealed_blob`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| sealgate::fuzzing::sealed_blob(data));
