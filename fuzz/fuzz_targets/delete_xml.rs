//! libFuzzer entry for `sealgate::fuzzing::delete_xml`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| sealgate::fuzzing::delete_xml(data));
