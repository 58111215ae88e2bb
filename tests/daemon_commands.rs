//! `massage-cue daemon stop|restart`, `daemon --detach` beside a running
//! daemon, and the note `start` gives when the daemon's sound environment
//! is not the terminal's: the real client and daemon.

use std::path::Path;
use std::time::Duration;

use crate::daemon::{Detached, Home, wait_until};

const PATIENCE: Duration = Duration::from_secs(15);

const COUNTED: &str = r#"
name = "Counted"
[[step]]
name = "Stroking"
reps = 40
tempo = "1s"
"#;

fn alive(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn daemon_stop_stops_the_running_daemon_and_says_which() {
    let home = Home::new().patience(PATIENCE);
    let routine = home.routine("counted.toml", COUNTED);
    let out = home.run(&["start", routine.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let pid = home.daemon_pid();
    let _guard = Detached(pid);

    let out = home.run(&["daemon", "stop"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        format!("Stopped the daemon (pid {pid}).\n")
    );
    assert!(!alive(pid), "the daemon still runs");
    assert!(!home.socket().exists());
    // its session was saved, to be carried on
    assert!(home.state_dir().join("session.json").exists());

    let out = home.run(&["daemon", "stop"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "No daemon was running.\n");
}

#[test]
fn start_says_when_the_daemons_sound_environment_differs_and_restart_fixes_it() {
    let home = Home::new().patience(PATIENCE);
    let routine = home.routine("counted.toml", COUNTED);
    let routine = routine.to_str().unwrap();
    // a daemon started from a terminal with a broken sound environment
    let out = home
        .command(&["status"])
        .env("PULSE_SERVER", "unix:/nonexistent/broken-terminal")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let first = home.daemon_pid();
    let _guard = Detached(first);

    // started from this terminal, whose sound goes elsewhere
    let out = home.run(&["start", routine]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(
        said.contains("another sound environment")
            && said.contains("PULSE_SERVER=unix:/nonexistent/broken-terminal")
            && said.contains("massage-cue daemon restart"),
        "{said}"
    );

    let out = home.run(&["daemon", "restart"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let second = home.daemon_pid();
    let _guard2 = Detached(second);
    assert_ne!(first, second);
    assert!(!alive(first));
    assert!(
        text(&out.stdout).contains(&format!("Started a daemon (pid {second})")),
        "{}",
        text(&out.stdout)
    );
    // the session saved by the stop came back; a new start replaces it
    let out = home.run(&["start", "--replace", routine]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        !text(&out.stdout).contains("another sound environment"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn daemon_detach_beside_a_running_daemon_says_which_pid_runs() {
    let home = Home::new().patience(PATIENCE);
    let daemon = home.daemon();
    let out = home.run(&["daemon", "--detach"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("already running") && err.contains(&format!("pid {}", daemon.pid())),
        "{err:?}"
    );
    wait_until("the first daemon to answer still", PATIENCE, || {
        home.status()["state"] == "idle"
    });
}

#[test]
fn a_second_daemon_is_refused_even_when_the_socket_and_its_lock_are_removed() {
    let home = Home::new().patience(PATIENCE);
    let daemon = home.daemon();
    std::fs::remove_file(home.socket()).unwrap();
    std::fs::remove_file(home.path().join("run/massage-cue.sock.lock")).unwrap();
    let out = home.run(&["daemon"]);
    assert_eq!(out.status.code(), Some(1), "a second daemon ran");
    let err = text(&out.stderr);
    assert!(
        err.contains("already running") && err.contains(&format!("pid {}", daemon.pid())),
        "{err}"
    );
}
