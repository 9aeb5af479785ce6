//! libFuzzer entry for `sealgate::fuzzing::encryption_xml`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| sealgate::fuzzing::encryption_xml(data));
