//! Waiting on a condition with a deadline: the wait ends as soon as the
//! condition holds, and the test fails, saying what it waited for, once
//! the deadline passes. Never a fixed sleep in the hope that it was enough.

use std::time::{Duration, Instant};

/// Waits until `ready` gives a value, failing the test after `patience`.
pub fn wait_for<T>(what: &str, patience: Duration, mut ready: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + patience;
    // look often at first, then less so: quick to see a quick condition,
    // cheap while a slow one (asked of another process) is awaited
    let mut pause = Duration::from_millis(2);
    loop {
        if let Some(value) = ready() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {patience:?} waiting for {what}"
        );
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

/// Waits until `ready` holds, failing the test after `patience`.
pub fn wait_until(what: &str, patience: Duration, mut ready: impl FnMut() -> bool) {
    wait_for(what, patience, || ready().then_some(()));
}
