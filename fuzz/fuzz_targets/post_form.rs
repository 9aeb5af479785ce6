//! libFuzzer entry for `sealgate::fuzzing::post_form`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| sealgate::fuzzing::post_form(data));
