//! Running one test of this binary again, alone, in a child process: for a
//! test that needs an environment (a sound server, no sound device) that a
//! test cannot give its own process while other tests' threads run.

use std::process::Command;

/// The full name of the running test whose function is `name`, as the
/// harness knows it (`module::name`): the harness names each test's
/// thread so.
///
/// Panics when called outside that test, since a filter that matches no
/// test would make the child pass without running anything.
pub fn full_name(name: &str) -> String {
    let thread = std::thread::current();
    let full = thread.name().unwrap_or_default();
    assert!(
        full == name || full.ends_with(&format!("::{name}")),
        "`{name}` is not the running test (the thread is named {full:?})"
    );
    full.to_owned()
}

/// The test binary, set to run the running test `name` alone, its output
/// shown.
pub fn this_test_again(name: &str) -> Command {
    let mut command = Command::new(std::env::current_exe().expect("the test binary's path"));
    command.args([
        &full_name(name),
        "--exact",
        "--nocapture",
        "--test-threads=1",
    ]);
    command
}
