#![no_main]
//! libFuzzer entry point; the checks are in `faultline_fuzz::message`.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| faultline_fuzz::message::check(data));
