//! libFuzzer entry for `sealgate::fuzzing::versioning_xml`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| sealgate::fuzzing::versioning_xml(data));
