//! libFuzzer entry for `sealgate::fuzzing::replication_xml`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| sealgate::fuzzing::replication_xml(data));
