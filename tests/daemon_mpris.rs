//! MPRIS for real: a private session D-Bus, the daemon binary on it, and
//! `playerctl` (what media keys and desktop media controls go through)
//! playing, pausing and skipping a bundled routine. Without a session bus
//! the daemon runs on and says so once.
//!
//! No sound is needed: the sound server is pointed at nothing, and the
//! daemon plays the session as text.

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use rustix::process::{Pid, Signal, kill_process as kill};
use serde_json::Value;

use crate::common::lines::Lines;
use crate::daemon::{BIN, Home};

/// How long anything here may take before a test fails. Starting a
/// session loads the voice, which is slow in a debug build.
const PATIENCE: Duration = Duration::from_secs(60);

/// Waits until `ready` holds, failing the test after [`PATIENCE`].
fn wait_for(what: &str, ready: impl FnMut() -> bool) {
    crate::daemon::wait_until(what, PATIENCE, ready);
}

/// A tool the tests need; `scripts/install-deps --test` installs it.
fn require(tool: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .unwrap();
    assert!(
        found.status.success(),
        "{tool} is missing; scripts/install-deps --test installs it"
    );
}

/// A private session bus, stopped when dropped.
struct Bus {
    address: String,
    pid: i32,
}

impl Bus {
    fn start() -> Bus {
        Bus::start_with(&[])
    }

    /// A bus listening at `address`, so that a bus started again there is
    /// found by the clients of the first.
    fn start_at(address: &str) -> Bus {
        Bus::start_with(&[&format!("--address={address}")])
    }

    fn start_with(more: &[&str]) -> Bus {
        require("dbus-daemon");
        let output = Command::new("dbus-daemon")
            .args(["--session", "--print-address=1", "--print-pid=1", "--fork"])
            .args(more)
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .unwrap();
        assert!(output.status.success(), "dbus-daemon did not start");
        let text = String::from_utf8(output.stdout).unwrap();
        let mut lines = text.lines();
        let address = lines.next().expect("the bus address").to_owned();
        let pid = lines
            .next()
            .and_then(|l| l.trim().parse().ok())
            .expect("the bus pid");
        Bus { address, pid }
    }
}

impl Bus {
    /// Stops the bus and waits until it is gone.
    fn stop(self) {
        let proc = format!("/proc/{}", self.pid);
        drop(self);
        wait_for("the session bus to stop", || {
            !std::path::Path::new(&proc).exists()
        });
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = kill(Pid::from_raw(self.pid).unwrap(), Signal::TERM);
    }
}

/// A user's folders with the bundled routines, no sound server (the
/// session plays as text), and the session bus `bus` (none when `None`).
fn home(bus: Option<&Bus>) -> Home {
    let home = Home::new().patience(PATIENCE).bundled_routines();
    match bus {
        Some(bus) => home.session_bus(&bus.address),
        None => home,
    }
}

/// `program` run to its end with the home's environment.
fn run(home: &Home, program: &str, args: &[&str]) -> Output {
    home.command_as(program, args).output().unwrap()
}

/// `massage-cue ARGS`, which must succeed.
fn massage_cue(home: &Home, args: &[&str]) -> Output {
    let output = run(home, BIN, args);
    assert!(
        output.status.success(),
        "massage-cue {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// `massage-cue start ROUTINE`, then waits until the session runs.
/// Planning with the real voice can take longer than the client waits for
/// a reply in a debug build on a busy machine; the daemon still starts the
/// session, which is what is waited for.
fn start(home: &Home, routine: &str) {
    let output = run(home, BIN, &["start", routine]);
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() || said.contains("no reply in time"),
        "massage-cue start {routine}: {said}"
    );
    wait_for("the session to start", || {
        home.client_status()["state"] == "running"
    });
}

/// `playerctl -p massage-cue ARGS`, which must succeed.
fn playerctl(home: &Home, args: &[&str]) -> String {
    let mut all = vec!["-p", "massage-cue"];
    all.extend_from_slice(args);
    let output = run(home, "playerctl", &all);
    assert!(
        output.status.success(),
        "playerctl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// The step index in a status, -1 before the first step.
fn step(status: &Value) -> i64 {
    status["step"].as_i64().unwrap_or(-1)
}

#[test]
fn media_controls_pause_resume_and_skip_a_session() {
    require("playerctl");
    let bus = Bus::start();
    let home = home(Some(&bus));
    let daemon = home.daemon();
    wait_for("the daemon on the session bus", || {
        let listed = run(&home, "playerctl", &["--list-all"]);
        String::from_utf8_lossy(&listed.stdout)
            .lines()
            .any(|l| l.trim() == "massage-cue")
    });
    assert_eq!(playerctl(&home, &["status"]), "Stopped");

    start(&home, "lower-back");
    wait_for("MPRIS to show the session playing", || {
        playerctl(&home, &["status"]) == "Playing"
    });
    assert_eq!(
        playerctl(&home, &["metadata", "album"]),
        "Lower back massage"
    );
    // the track is the step: its length is the step's
    wait_for("the first step", || step(&home.client_status()) >= 0);
    let length: u64 = playerctl(&home, &["metadata", "mpris:length"])
        .parse()
        .unwrap();
    let status = home.client_status();
    let step_us = (status["step_elapsed_ms"].as_u64().unwrap()
        + status["step_remaining_ms"].as_u64().unwrap())
        * 1000;
    assert!(
        length.abs_diff(step_us) < 1_000_000,
        "length {length} µs, step {step_us} µs"
    );

    playerctl(&home, &["play-pause"]);
    wait_for("the session to pause", || {
        home.client_status()["state"] == "paused"
    });
    assert_eq!(playerctl(&home, &["status"]), "Paused");

    playerctl(&home, &["play-pause"]);
    wait_for("the session to resume", || {
        home.client_status()["state"] == "running"
    });
    assert_eq!(playerctl(&home, &["status"]), "Playing");

    let before = step(&home.client_status());
    playerctl(&home, &["next"]);
    wait_for("the next step", || step(&home.client_status()) > before);
    let after = home.client_status();
    assert_eq!(after["state"], "running");
    let title = playerctl(&home, &["metadata", "title"]);
    assert_eq!(Value::from(title), after["step_name"]);

    playerctl(&home, &["next"]);
    wait_for("the step after", || {
        step(&home.client_status()) > step(&after)
    });

    playerctl(&home, &["previous"]);
    wait_for("the step before", || {
        step(&home.client_status()) <= step(&after)
    });

    playerctl(&home, &["pause"]);
    wait_for("pause", || home.client_status()["state"] == "paused");
    playerctl(&home, &["play"]);
    wait_for("play", || home.client_status()["state"] == "running");

    playerctl(&home, &["stop"]);
    wait_for("the session to stop", || {
        home.client_status()["state"] == "idle"
    });
    assert_eq!(playerctl(&home, &["status"]), "Stopped");
    // a media key with nothing to control is no error
    playerctl(&home, &["pause"]);
    assert_eq!(home.client_status()["state"], "idle");

    let log = daemon.log();
    assert!(
        log.contains("MPRIS media controls on org.mpris.MediaPlayer2.massage-cue"),
        "{log}"
    );
}

#[test]
fn desktop_listeners_are_told_of_changes_made_on_the_socket() {
    require("playerctl");
    let bus = Bus::start();
    let home = home(Some(&bus));
    let _daemon = home.daemon();
    wait_for("the daemon on the session bus", || {
        let listed = run(&home, "playerctl", &["--list-all"]);
        String::from_utf8_lossy(&listed.stdout)
            .lines()
            .any(|l| l.trim() == "massage-cue")
    });
    // `--follow` prints again only when the player signals a change
    let mut status = Lines::spawn(
        home.command_as("playerctl", &["-p", "massage-cue", "--follow", "status"]),
        PATIENCE,
    );
    status.expect_line("Stopped");
    let mut titles = Lines::spawn(
        home.command_as(
            "playerctl",
            &["-p", "massage-cue", "--follow", "metadata", "title"],
        ),
        PATIENCE,
    );
    start(&home, "lower-back");
    status.expect_line("Playing");
    massage_cue(&home, &["pause"]);
    status.expect_line("Paused");
    massage_cue(&home, &["resume"]);
    status.expect_line("Playing");
    massage_cue(&home, &["next"]);
    let step = home.client_status()["step_name"]
        .as_str()
        .unwrap()
        .to_owned();
    titles.expect_line(&step);
    massage_cue(&home, &["stop"]);
    status.expect_line("Stopped");
}

#[test]
fn without_a_session_bus_the_daemon_runs_and_says_so_once() {
    let home = home(None);
    let daemon = home.daemon();
    // the daemon answers, and its log has the one line
    assert_eq!(home.client_status()["state"], "idle");
    wait_for("the line about the missing bus", || {
        daemon.log().contains("no MPRIS media controls")
    });
    start(&home, "lower-back");
    massage_cue(&home, &["pause"]);
    assert_eq!(home.client_status()["state"], "paused");
    let log = daemon.log();
    assert_eq!(log.matches("no MPRIS media controls").count(), 1, "{log}");
}

#[test]
fn media_controls_come_back_when_the_session_bus_restarts() {
    require("playerctl");
    let folder = tempfile::tempdir().unwrap();
    let socket = folder.path().join("bus");
    let address = format!("unix:path={}", socket.display());
    let bus = Bus::start_at(&address);
    // as a desktop gives it: the path alone, with no server GUID, which
    // changes when the bus starts again
    let home = Home::new()
        .patience(PATIENCE)
        .bundled_routines()
        .session_bus(&address);
    let daemon = home.daemon();
    let listed = || {
        let listed = run(&home, "playerctl", &["--list-all"]);
        String::from_utf8_lossy(&listed.stdout)
            .lines()
            .any(|l| l.trim() == "massage-cue")
    };
    wait_for("the daemon on the session bus", listed);
    bus.stop();
    let _ = std::fs::remove_file(&socket);
    wait_for("the daemon to say the bus went away", || {
        daemon.log().contains("MPRIS media controls lost")
    });
    let _bus = Bus::start_at(&address);
    let deadline = std::time::Instant::now() + PATIENCE;
    while !listed() {
        assert!(
            std::time::Instant::now() < deadline,
            "the daemon is not on the session bus again:\n{}",
            daemon.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // and the media keys work again
    start(&home, "lower-back");
    playerctl(&home, &["pause"]);
    wait_for("pause", || home.client_status()["state"] == "paused");
    let log = daemon.log();
    assert!(
        log.contains("MPRIS media controls on org.mpris.MediaPlayer2.massage-cue again"),
        "{log}"
    );
}

/// A routine with sides, at a path in the home.
const SIDES: &str = r#"
name = "Sides"
[[step]]
name = "Kneading"
reps = 20
tempo = "2s"
sides = ["left", "right"]
[[step]]
name = "Stroking"
reps = 20
tempo = "2s"
"#;

#[test]
fn media_keys_move_by_stretch_show_where_and_play_brings_back_a_stopped_session() {
    require("playerctl");
    let bus = Bus::start();
    let home = home(Some(&bus));
    let _daemon = home.daemon();
    wait_for("the daemon on the session bus", || {
        let listed = run(&home, "playerctl", &["--list-all"]);
        String::from_utf8_lossy(&listed.stdout)
            .lines()
            .any(|l| l.trim() == "massage-cue")
    });
    let routine = home.routine("sides.toml", SIDES);
    start(&home, routine.to_str().unwrap());
    wait_for("the left side", || {
        home.client_status()["stretch"] == "left side"
    });
    // the widget line under the title names the side and the repetition
    wait_for("the side in the metadata", || {
        playerctl(&home, &["metadata", "xesam:artist"]).starts_with("left side")
    });
    assert_eq!(playerctl(&home, &["metadata", "title"]), "Kneading");

    playerctl(&home, &["next"]);
    wait_for("the right side", || {
        home.client_status()["stretch"] == "right side"
    });
    assert_eq!(home.client_status()["step_name"], "Kneading", "by stretch");
    wait_for("the right side in the metadata", || {
        playerctl(&home, &["metadata", "xesam:artist"]).starts_with("right side")
    });
    // the position is the time into the step
    let position: f64 = playerctl(&home, &["position"]).parse().unwrap();
    let status = home.client_status();
    let into_step = status["step_elapsed_ms"].as_f64().unwrap() / 1000.0;
    assert!(
        (position - into_step).abs() < 2.0,
        "position {position} s, {into_step} s into the step"
    );
    // a quick second previous goes one further back
    playerctl(&home, &["previous"]);
    playerctl(&home, &["previous"]);
    wait_for("the left side again", || {
        home.client_status()["stretch"] == "left side"
    });

    // a stray stop loses nothing: play brings the session back
    playerctl(&home, &["stop"]);
    wait_for("the session to stop", || {
        home.client_status()["state"] == "idle"
    });
    playerctl(&home, &["play"]);
    wait_for("the session to come back", || {
        let status = home.client_status();
        status["state"] == "running" && status["routine"] == "Sides"
    });
    assert_eq!(home.client_status()["stretch"], "left side");
    wait_for("MPRIS to show it playing", || {
        playerctl(&home, &["status"]) == "Playing"
    });
}
