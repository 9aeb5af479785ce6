//! libFuzzer entry for `sealgate::fuzzing::bucket_policy`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| sealgate::fuzzing::bucket_policy(data));
