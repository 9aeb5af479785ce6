//! libFuzzer entry for `sealgate::fuzzing::s3ec_instruction_file`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| sealgate::fuzzing::s3ec_instruction_file(data));
