//! The integration tests, built as one binary: one module per subject, the
//! helpers they share in `common`. One binary links once, in a fraction of
//! the time and space that one binary per file takes.
//!
//! Run one module with `cargo test --test integration MODULE::`, one test
//! with `cargo test --test integration NAME`.
//!
//! Cargo does not look for test binaries in `tests/` (`autotests = false`):
//! a new file there is a module, declared below. The test at the end of
//! this file fails while one is not.

mod common;
#[path = "common/daemon.rs"]
mod daemon;

mod architecture;
mod audio_real;
mod bad_routines;
mod bundled_plans;
mod closed_pipe;
mod daemon_commands;
mod daemon_controls;
mod daemon_mpris;
mod daemon_music;
mod daemon_socket;
mod daemon_sound;
mod daemon_time;
mod data_dirs;
mod desktop;
mod faults;
mod files_and_bounds;
mod fuzz_regressions;
mod hostile;
mod msrv;
mod music_render;
mod natural_voice;
mod never_deaf;
mod render_routine;
mod routine_schema;
mod spoken_commands;
mod voice_pack;

/// Every `tests/*.rs` file is a module of this binary, so none is left
/// out of the test run unnoticed.
#[test]
fn every_file_in_tests_is_a_module_of_this_binary() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let main = std::fs::read_to_string(dir.join("main.rs")).unwrap();
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let stem = path.file_stem().unwrap().to_str().unwrap();
        if stem != "main" && !main.lines().any(|l| l == format!("mod {stem};")) {
            missing.push(stem.to_owned());
        }
    }
    assert!(
        missing.is_empty(),
        "not declared in tests/main.rs, so never built or run: {missing:?}"
    );
}
