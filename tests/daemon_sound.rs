//! The daemon when its sound output goes away mid-session: the session
//! pauses where it was, the daemon goes on answering, and once the sound
//! server is back the session resumes, on request or by itself with
//! `[audio] auto_resume = true`.
//!
//! Each test starts a sound server of its own (`scripts/sound-server start
//! --private` with a private `MC_SOUND_DIR`), kills it with SIGKILL and
//! starts it again on the same socket, so no other test's server is
//! disturbed. The daemon is the real binary with private XDG folders,
//! playing a bundled routine.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::daemon::{Connection, Daemon, Home, request, start_request};

/// How long starting things (a server, the daemon, a session) may take.
const PATIENCE: Duration = Duration::from_secs(20);

/// How long the daemon may take to notice that the sound output is gone,
/// or back.
const NOTICE: Duration = Duration::from_secs(15);

/// How long starting a session may take: the voice is prepared first.
const START_PATIENCE: Duration = Duration::from_secs(60);

/// About six minutes, a cue every few seconds.
const ROUTINE: &str = "hip-knee-mobility";

/// A user's folders with `config` as the configuration file, the bundled
/// routines, and a sound server of its own.
fn home(config: &str) -> Home {
    let home = Home::new().patience(PATIENCE).bundled_routines();
    home.config(config);
    home.private_sound_server()
}

/// Waits until `status --json` satisfies `ready`; that status.
fn wait_status(
    home: &Home,
    what: &str,
    patience: Duration,
    daemon: &mut Daemon,
    ready: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + patience;
    loop {
        // a client starts a daemon when none runs: make sure ours does
        assert!(
            daemon.alive(),
            "the daemon died; its log:\n{}",
            daemon.log_tail()
        );
        let status = home.client_status();
        if ready(&status) {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {patience:?} waiting for {what}; last status: {status}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts the routine over the socket; the status in the reply. Sent
/// directly rather than with the client, whose reply timeout an
/// unoptimised build, decoding the voice pack, can overrun.
fn start(home: &Home) -> Value {
    Connection::open(&home.socket(), START_PATIENCE).ok(start_request(ROUTINE))
}

/// Subscribes to the daemon's updates and waits until `count` cues have
/// been spoken.
fn wait_for_cues(home: &Home, count: usize) {
    let mut updates = home.connect();
    updates.ok(request("subscribe"));
    let mut spoken = 0;
    let deadline = Instant::now() + PATIENCE;
    while spoken < count {
        assert!(Instant::now() < deadline, "only {spoken} cues were spoken");
        let update = updates.reply().expect("the daemon closed the subscription");
        assert_ne!(update["reply"], "error", "{update}");
        if update["cue"].is_object() {
            spoken += 1;
        }
    }
}

fn state(status: &Value) -> &str {
    status["state"].as_str().unwrap_or_default()
}

fn message(status: &Value) -> String {
    status["message"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase()
}

/// Starts the routine, waits until it is running and a few cues were
/// spoken, kills the sound server and waits until the session is paused
/// for it. The status then.
fn lose_sound_mid_session(home: &Home, daemon: &mut Daemon) -> Value {
    let started = start(home);
    assert_eq!(state(&started), "running", "{started}");
    wait_for_cues(home, 3);
    assert!(
        home.sound_server().hears_sound(0.01, PATIENCE),
        "the session was not heard on the sound server; the daemon's log:\n{}",
        daemon.log_tail()
    );

    home.sound_server().kill(PATIENCE);
    let paused = wait_status(
        home,
        "the session to pause for the lost sound output",
        NOTICE,
        daemon,
        |s| state(s) == "paused" && message(s).contains("sound output"),
    );
    assert!(message(&paused).contains("lost"), "{paused}");
    // paused where it was: the position does not move on
    let elapsed = paused["elapsed_ms"].as_u64().expect("elapsed_ms");
    assert!(elapsed > 0, "{paused}");
    let again = wait_status(home, "a second status", PATIENCE, daemon, |_| true);
    assert_eq!(state(&again), "paused", "{again}");
    assert_eq!(again["elapsed_ms"].as_u64(), Some(elapsed), "{again}");
    assert_eq!(again["routine"], paused["routine"]);
    paused
}

#[test]
fn a_lost_sound_output_pauses_the_session_and_resume_carries_on_once_it_is_back() {
    let home = home("");
    let mut daemon = home.daemon();
    let paused = lose_sound_mid_session(&home, &mut daemon);

    // with the server still away, resume is refused and nothing changes
    let output = home.run(&["resume"]);
    assert!(!output.status.success(), "resume without sound succeeded");
    assert_eq!(state(&home.client_status()), "paused");

    home.sound_server().restart();
    let back = wait_status(
        &home,
        "the daemon to find the sound output again",
        NOTICE,
        &mut daemon,
        |s| message(s).contains("back"),
    );
    assert_eq!(state(&back), "paused", "{back}");
    assert_eq!(back["elapsed_ms"], paused["elapsed_ms"], "{back}");

    let output = home.run(&["resume"]);
    assert!(
        output.status.success(),
        "resume: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(state(&home.client_status()), "running");
    assert!(
        home.sound_server().hears_sound(0.01, PATIENCE),
        "nothing was heard after resuming; the daemon's log:\n{}",
        daemon.log_tail()
    );
    let later = wait_status(
        &home,
        "the session to move on",
        PATIENCE,
        &mut daemon,
        |s| s["elapsed_ms"].as_u64() > paused["elapsed_ms"].as_u64(),
    );
    assert_eq!(state(&later), "running", "{later}");
}

#[test]
fn with_auto_resume_the_session_carries_on_by_itself_once_sound_is_back() {
    let home = home("[audio]\nauto_resume = true\n");
    let mut daemon = home.daemon();
    let paused = lose_sound_mid_session(&home, &mut daemon);

    home.sound_server().restart();
    let resumed = wait_status(
        &home,
        "the session to resume by itself",
        NOTICE,
        &mut daemon,
        |s| state(s) == "running",
    );
    assert!(message(&resumed).contains("back"), "{resumed}");
    assert!(
        home.sound_server().hears_sound(0.01, PATIENCE),
        "nothing was heard after the session resumed; the daemon's log:\n{}",
        daemon.log_tail()
    );
    let later = wait_status(
        &home,
        "the session to move on",
        PATIENCE,
        &mut daemon,
        |s| s["elapsed_ms"].as_u64() > paused["elapsed_ms"].as_u64(),
    );
    assert_eq!(state(&later), "running", "{later}");
}

/// Opening the sound output can take many seconds: here a sound server
/// accepts connections and never answers. The daemon answers meanwhile;
/// the session counts as running but stands still at its start until the
/// output is ready.
#[test]
fn the_daemon_answers_while_the_sound_output_opens() {
    let home = Home::new().bundled_routines().patience(PATIENCE);
    let silent = home.path().join("silent-sound-server");
    let listener = std::os::unix::net::UnixListener::bind(&silent).unwrap();
    listener.set_nonblocking(true).unwrap();
    let mut command = home.command(&["daemon"]);
    command.env("PULSE_SERVER", format!("unix:{}", silent.display()));
    let _daemon = home.daemon_with(command);
    let routine =
        std::path::Path::new(crate::daemon::ROOT).join(format!("routines/{ROUTINE}.toml"));
    let started = home.ok(start_request(&routine));
    assert_eq!(state(&started), "running", "{started}");
    // hold every connection the daemon opens, answering none
    let mut held = Vec::new();
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(500));
        while let Ok((stream, _)) = listener.accept() {
            held.push(stream);
        }
        let asked = Instant::now();
        let status = home.status();
        assert!(
            asked.elapsed() < Duration::from_secs(2),
            "status took {:?} while the output opened",
            asked.elapsed()
        );
        assert_eq!(state(&status), "running", "{status}");
        assert_eq!(status["elapsed_ms"], 0, "{status}");
        assert!(message(&status).contains("opening"), "{status}");
    }
    assert!(!held.is_empty(), "the daemon never tried the sound server");
}
