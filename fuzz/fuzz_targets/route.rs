#![no_main]
//! libFuzzer entry point; the checks are in `faultline_fuzz::route`.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| faultline_fuzz::route::check(data));
