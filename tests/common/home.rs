//! A private home for massage-cue in tests: every folder it uses (config,
//! state, cache, runtime) lies under one temporary directory.

use std::path::Path;
use std::process::{Command, Stdio};

/// Points `command` at folders under `home` only, with plain `info` logs
/// and no standard input.
pub fn confine<'a>(command: &'a mut Command, home: &Path) -> &'a mut Command {
    command
        .env("HOME", home)
        .env("XDG_RUNTIME_DIR", home.join("run"))
        .env("XDG_STATE_HOME", home.join("state"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
}
