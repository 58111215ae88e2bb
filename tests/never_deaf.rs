//! The daemon is never deaf: a session that takes long to make ready (a
//! slow speech engine rendering its phrases) is made ready away from the
//! task that answers requests, so `status` and the controls are answered,
//! the session there is plays on, SIGTERM is acted on, and every request
//! applies to the session it was meant for or is refused.
//!
//! The speech engine here renders nothing until a gate file exists, so
//! the tests hold a preparation open for as long as they need, without
//! timing anything.

use std::fs;
use std::net::Shutdown;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::daemon::{Connection, Home, request, start_request, wait_for, wait_until};
use rustix::process::Signal;
use serde_json::{Value, json};

/// How long anything here may take before a test fails.
const PATIENCE: Duration = Duration::from_secs(15);

/// A routine whose phrases no voice pack holds: each needs the engine.
const GATED: &str = r#"
name = "Gated"
[[step]]
name = "Zorbulate the quoxel"
reps = 3
tempo = "1s"
[[step]]
name = "Frabble the wimbrel"
time = "5s"
"#;

/// A routine of counted repetitions, one a second.
const COUNTED: &str = r#"
name = "Counted"
[[step]]
name = "Stroking"
reps = 40
tempo = "1s"
"#;

/// A home whose speech engine waits for its gate to open before it
/// writes a phrase (a second of a tone).
struct Gated {
    home: Home,
    gate: PathBuf,
}

impl Gated {
    fn new() -> Gated {
        let home = Home::new().patience(PATIENCE);
        let tone = home.path().join("tone.wav");
        tone_wav(&tone);
        let gate = home.path().join("gate");
        // the engine gives up by itself after 60 s, so no test leaves it
        // running
        let script = format!(
            "for i in $(seq 1200); do [ -e '{}' ] && exec cp '{}' \"$0\"; sleep 0.05; done; exit 1",
            gate.display(),
            tone.display()
        );
        home.config(&format!(
            "[voice]\ncommand = [\"sh\", \"-c\", {}, \"{{out}}\"]\ntimeout = \"60s\"\n",
            toml_string(&script)
        ));
        Gated { home, gate }
    }

    fn open(&self) {
        fs::write(&self.gate, "").unwrap();
    }

    fn close(&self) {
        let _ = fs::remove_file(&self.gate);
    }
}

impl Drop for Gated {
    fn drop(&mut self) {
        // any engine still waiting ends
        self.open();
    }
}

fn toml_string(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

fn tone_wav(path: &Path) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 22_050,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut wav = hound::WavWriter::create(path, spec).unwrap();
    for i in 0..22_050 {
        wav.write_sample(((i as f32 * 0.06).sin() * 12_000.0) as i16)
            .unwrap();
    }
    wav.finalize().unwrap();
}

fn elapsed(status: &Value) -> u64 {
    status["elapsed_ms"]
        .as_u64()
        .unwrap_or_else(|| panic!("{status}"))
}

/// Sends a start of `routine` on a connection of its own, without waiting
/// for the answer.
fn send_start(home: &Home, routine: &Path, replace: bool) -> Connection {
    let mut start = start_request(routine);
    if replace {
        start["options"] = json!({"replace": true});
    }
    let mut connection = home.connect();
    let mut line = start.to_string();
    line.push('\n');
    connection.send_raw(line.as_bytes());
    connection
}

/// Waits until the status says `routine` is being made ready; that status.
fn preparing(home: &Home, routine: &Path) -> Value {
    wait_for(
        "the status to say the start is being made ready",
        PATIENCE,
        || {
            let status = home.status();
            (status["preparing"]["routine"] == routine.to_str().unwrap()).then_some(status)
        },
    )
}

fn history_lines(home: &Home) -> usize {
    fs::read_to_string(home.state_dir().join("history.jsonl"))
        .map(|text| text.lines().count())
        .unwrap_or(0)
}

#[test]
fn requests_are_answered_and_the_session_plays_on_while_a_start_is_made_ready() {
    let gated = Gated::new();
    let home = &gated.home;
    let counted = home.routine("counted.toml", COUNTED);
    let slow = home.routine("gated.toml", GATED);
    let _daemon = home.daemon();
    gated.open();
    let first = home.start(&counted);
    let first_id = first["session"].as_u64().expect("a session number");
    gated.close();

    let mut start = send_start(home, &slow, true);
    let before = preparing(home, &slow);
    assert_eq!(before["state"], "running", "{before}");
    assert_eq!(before["routine"], "Counted", "{before}");
    assert_eq!(before["session"], first_id, "{before}");
    assert!(
        before["message"]
            .as_str()
            .unwrap_or_default()
            .contains("Making the session of"),
        "{before}"
    );
    // the session there is plays on, and is controlled, meanwhile
    let later = wait_for("the playing session to move on", PATIENCE, || {
        let status = home.status();
        (elapsed(&status) >= elapsed(&before) + 1_500).then_some(status)
    });
    assert_eq!(later["preparing"]["routine"], slow.to_str().unwrap());
    let paused = home.simple("pause");
    assert_eq!(paused["state"], "paused", "{paused}");
    assert_eq!(paused["session"], first_id, "{paused}");
    let resumed = home.simple("resume");
    assert_eq!(resumed["state"], "running", "{resumed}");

    gated.open();
    let reply = start.reply().expect("the start's answer");
    assert_eq!(reply["reply"], "ok", "{reply}");
    assert_eq!(reply["status"]["routine"], "Gated", "{reply}");
    assert!(reply["status"]["preparing"].is_null(), "{reply}");
    let second_id = reply["status"]["session"].as_u64().unwrap();
    assert_ne!(second_id, first_id);
    // the session it replaced is in the history, once
    assert_eq!(history_lines(home), 1);
}

#[test]
fn sigterm_ends_a_daemon_whose_start_waits_on_a_hung_speech_engine() {
    let gated = Gated::new();
    let home = &gated.home;
    let slow = home.routine("gated.toml", GATED);
    let mut daemon = home.daemon();
    let mut start = send_start(home, &slow, false);
    preparing(home, &slow);
    daemon.signal(Signal::TERM);
    assert_eq!(daemon.wait(), Some(0), "{}", daemon.log_tail());
    let reply = start.reply().expect("the start's answer");
    assert_eq!(reply["reply"], "error", "{reply}");
    assert!(
        reply["message"]
            .as_str()
            .unwrap_or_default()
            .contains("shutting down"),
        "{reply}"
    );
}

#[test]
fn a_stop_sent_while_a_start_is_made_ready_stops_it_before_it_begins() {
    let gated = Gated::new();
    let home = &gated.home;
    let slow = home.routine("gated.toml", GATED);
    let _daemon = home.daemon();
    let mut start = send_start(home, &slow, false);
    preparing(home, &slow);
    let stopped = home.ask(request("stop"));
    assert_eq!(stopped["reply"], "ok", "{stopped}");
    let reply = start.reply().expect("the start's answer");
    assert_eq!(reply["reply"], "error", "{reply}");
    assert!(
        reply["message"]
            .as_str()
            .unwrap_or_default()
            .contains("stopped before it was ready"),
        "{reply}"
    );
    // its phrases come in after all: nothing starts, nothing is logged
    gated.open();
    let gated_again = home.ask(start_request(&slow));
    assert_eq!(gated_again["reply"], "ok", "{gated_again}");
    let status = home.simple("stop");
    assert_eq!(status["state"], "idle", "{status}");
    assert_eq!(history_lines(home), 1, "only the session started again");
}

#[test]
fn a_start_whose_client_hung_up_before_it_was_ready_never_begins() {
    let gated = Gated::new();
    let home = &gated.home;
    let slow = home.routine("gated.toml", GATED);
    let daemon = home.daemon();
    let start = send_start(home, &slow, false);
    preparing(home, &slow);
    drop(start);
    gated.open();
    wait_until("the preparation to end", PATIENCE, || {
        home.status()["preparing"].is_null()
    });
    let status = home.status();
    assert_eq!(status["state"], "idle", "{status}");
    assert!(
        daemon
            .log()
            .contains("the client that asked for it has gone"),
        "{}",
        daemon.log_tail()
    );
}

#[test]
fn a_client_that_only_closed_its_writing_side_still_gets_its_session() {
    let gated = Gated::new();
    let home = &gated.home;
    let slow = home.routine("gated.toml", GATED);
    let _daemon = home.daemon();
    // as `nc -N` does: the request, then the end of what it sends
    let mut start = send_start(home, &slow, false);
    start.writer.shutdown(Shutdown::Write).unwrap();
    preparing(home, &slow);
    gated.open();
    let reply = start.reply().expect("the start's answer");
    assert_eq!(reply["reply"], "ok", "{reply}");
    assert_eq!(reply["status"]["state"], "running", "{reply}");
}

#[test]
fn a_request_meant_for_a_session_that_is_over_is_refused() {
    let gated = Gated::new();
    let home = &gated.home;
    gated.open();
    let counted = home.routine("counted.toml", COUNTED);
    let _daemon = home.daemon();
    let first = home.start(&counted)["session"].as_u64().unwrap();
    let paused = home.ok(json!({"version": 1, "request": "pause", "session": first}));
    assert_eq!(paused["state"], "paused", "{paused}");
    home.simple("stop");
    let second = home.start(&counted)["session"].as_u64().unwrap();
    assert_ne!(first, second);
    for name in ["stop", "pause", "next"] {
        let late = home.ask(json!({"version": 1, "request": name, "session": first}));
        assert_eq!(late["reply"], "error", "{name} → {late}");
        assert_eq!(late["kind"], "not_now", "{name} → {late}");
        assert!(
            late["message"]
                .as_str()
                .unwrap_or_default()
                .contains(&format!("meant for session {first}")),
            "{late}"
        );
    }
    let status = home.status();
    assert_eq!(status["state"], "running", "{status}");
    assert_eq!(status["session"], second, "{status}");
}
