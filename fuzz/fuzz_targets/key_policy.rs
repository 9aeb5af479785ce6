//! libFuzzer entry for `sealgate::fuzzing::key_policy`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| sealgate::fuzzing::key_policy(data));
