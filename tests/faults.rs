//! Faults injected into the real daemon, each guarding a fix that the
//! fault-injection scripts (`scripts/fault/`) called for: a daemon killed
//! outright, the disk full or unwritable, a broken text-to-speech command,
//! damaged clips.

mod common;
#[path = "common/faults.rs"]
mod faults;

use std::fs;
use std::time::Duration;

use common::sound_server::{Recorder, run_with_sound_server};
use faults::{FaultHome, PATIENCE, wait_for};
use serde_json::Value;

/// One timed step whose last seconds are counted down ("3.", "2.", "1.").
const TIMED: &str = r#"
name = "Timed"
[[step]]
name = "Rubbing"
time = "8s"
"#;

fn elapsed(status: &Value) -> u64 {
    status["elapsed_ms"]
        .as_u64()
        .unwrap_or_else(|| panic!("{status}"))
}

/// The plan offset of the cue saying `text`.
fn cue_at(home: &FaultHome, routine: &std::path::Path, text: &str) -> u64 {
    let out = home.run(&["plan", routine.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{out:?}");
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    plan["cues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["text"] == text)
        .and_then(|c| c["at_ms"].as_u64())
        .unwrap_or_else(|| panic!("no cue {text:?} in {plan}"))
}

#[test]
fn a_daemon_killed_within_a_timed_step_comes_back_at_its_last_cue_not_its_start() {
    let mut home = FaultHome::new();
    let routine = home.routine("timed", TIMED);
    let two = cue_at(&home, &routine, "2.");
    let mut daemon = home.daemon();
    home.start(&routine);
    // killed just after "2." began, well into the step
    wait_for("the session to reach \"2.\"", PATIENCE, || {
        (elapsed(&home.status()) >= two + 150).then_some(())
    });
    daemon.kill9();

    let _daemon = home.daemon();
    let back = home.status();
    assert_eq!(back["state"], "paused", "{back}");
    assert_eq!(back["step"], 0, "{back}");
    // within the cue under way, not back at the step's announcement
    assert!(
        elapsed(&back) >= two,
        "back at {} ms, \"2.\" is at {two} ms",
        elapsed(&back)
    );
    assert!(elapsed(&back) <= two + 1_000, "{back}");
}

#[test]
fn a_session_restored_after_a_crash_is_heard_when_resumed() {
    run_with_sound_server(
        "a_session_restored_after_a_crash_is_heard_when_resumed",
        || {
            let mut home = FaultHome::new();
            let routine = home.routine("timed", TIMED);
            let mut daemon = home.daemon();
            home.start(&routine);
            std::thread::sleep(Duration::from_millis(1_500));
            daemon.kill9();

            let daemon = home.daemon();
            assert_eq!(home.status()["state"], "paused");
            let recorder = Recorder::start(&home.path().join("resumed.wav"));
            let resumed = home.simple("resume");
            assert_eq!(resumed["state"], "running", "{resumed}");
            std::thread::sleep(Duration::from_millis(3_000));
            let (samples, _) = recorder.stop();
            let peak = samples.iter().fold(0.0f32, |m, s| m.max(s.abs()));
            assert!(
                peak > 0.01,
                "nothing was heard after resuming a restored session (peak {peak}); the log:\n{}",
                daemon.log()
            );
            let _ = fs::remove_file(home.path().join("resumed.wav"));
        },
    );
}
