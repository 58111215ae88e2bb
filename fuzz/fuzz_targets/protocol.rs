//! The socket protocol: request and response lines, decoded and encoded.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../checks.rs"]
mod checks;

fuzz_target!(|data: &[u8]| {
    checks::protocol(data);
});
