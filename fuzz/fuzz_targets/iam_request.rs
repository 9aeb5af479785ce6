//! libFuzzer entry for `sealgate::fuzzing::iam_request`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| sealgate::fuzzing::iam_request(data));
