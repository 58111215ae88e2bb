//! Routine files: the parser, the validator and the planner, on any bytes.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../checks.rs"]
mod checks;

fuzz_target!(|data: &[u8]| {
    checks::routine(data);
});
