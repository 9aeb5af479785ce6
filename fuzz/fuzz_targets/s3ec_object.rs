//! libFuzzer entry for `sealgate::fuzzing::s3ec_object`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| sealgate::fuzzing::s3ec_object(data));
