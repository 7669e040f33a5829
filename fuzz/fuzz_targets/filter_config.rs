#![no_main]
//! libFuzzer entry point; the checks are in `faultline_fuzz::filter_config`.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| faultline_fuzz::filter_config::check(data));
