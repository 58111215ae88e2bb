//! A reader that stops early (`massage-cue list | head -1`) closes the
//! pipe the program writes to. The program then ends quietly: status 0,
//! nothing on standard error, no panic. (The bundled routines need no note
//! about phrases the voice pack lacks: `voice_pack` checks that it lacks
//! none.)

use std::io::pipe;
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_massage-cue");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Runs `massage-cue args` with standard output a pipe whose reading end
/// is already closed, so that its first write fails, whatever the timing.
fn run_into_closed_pipe(args: &[&str]) {
    let home = tempfile::tempdir().unwrap();
    let (reader, writer) = pipe().unwrap();
    drop(reader);
    let output = Command::new(BIN)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("XDG_RUNTIME_DIR", home.path())
        .env("MASSAGE_CUE_ROUTINES", format!("{ROOT}/routines"))
        .env("MASSAGE_CUE_SOUNDS", format!("{ROOT}/sounds"))
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(0),
        "massage-cue {args:?} into a closed pipe: {}; stderr: {stderr}",
        output.status
    );
    assert!(
        stderr.is_empty(),
        "massage-cue {args:?} into a closed pipe said: {stderr}"
    );
}

#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    let routine = format!("{ROOT}/routines/lower-back.toml");
    for args in [
        &["list"][..],
        &["schema"],
        &["plan", "lower-back", "--json"],
        &["plan", "lower-back"],
        &["show", "lower-back"],
        &["check", &routine],
        &["phrases"],
        &["man"],
        &["completions", "bash"],
    ] {
        run_into_closed_pipe(args);
    }
}
