//! libFuzzer entry for `sealgate::fuzzing::kms_request`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| sealgate::fuzzing::kms_request(data));
