//! libFuzzer entry for `sealgate::fuzzing::complete_xml`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| sealgate::fuzzing::complete_xml(data));
