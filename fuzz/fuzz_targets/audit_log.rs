//! libFuzzer entry for `sealgate::fuzzing::audit_log`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| sealgate::fuzzing::audit_log(data));
