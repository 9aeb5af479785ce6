//! libFuzzer entry for `sealgate::fuzzing::kms_ciphertext`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| sealgate::fuzzing::kms_ciphertext(data));
