//! MPRIS for real: a private session D-Bus, the daemon binary on it, and
//! `playerctl` (what media keys and desktop media controls go through)
//! playing, pausing and skipping a bundled routine. Without a session bus
//! the daemon runs on and says so once.
//!
//! No sound is needed: the sound server is pointed at nothing, and the
//! daemon plays the session as text.

use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process as kill};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_massage-cue");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// How long anything here may take before a test fails. Starting a
/// session loads the voice, which is slow in a debug build.
const PATIENCE: Duration = Duration::from_secs(60);

/// Waits until `ready` holds, failing the test after [`PATIENCE`].
fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
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
        require("dbus-daemon");
        let output = Command::new("dbus-daemon")
            .args(["--session", "--print-address=1", "--print-pid=1", "--fork"])
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

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = kill(Pid::from_raw(self.pid).unwrap(), Signal::TERM);
    }
}

/// A user's folders, all in one temporary folder, and the bus the user's
/// programs reach (none when `bus` is `None`).
struct Home {
    dir: tempfile::TempDir,
    bus: Option<String>,
}

impl Home {
    fn new(bus: Option<&Bus>) -> Home {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        fs::create_dir(&run).unwrap();
        fs::set_permissions(&run, fs::Permissions::from_mode(0o700)).unwrap();
        Home {
            dir,
            bus: bus.map(|b| b.address.clone()),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn log(&self) -> PathBuf {
        self.path().join("daemon.log")
    }

    /// `program` with this home's environment.
    fn command(&self, program: &str, args: &[&str]) -> Command {
        let mut command = Command::new(program);
        crate::common::home::confine(command.args(args), self.path())
            .env("MASSAGE_CUE_ROUTINES", Path::new(ROOT).join("routines"))
            // no sound server: the session plays as text
            .env("PULSE_SERVER", "unix:/nonexistent/massage-cue-test");
        match &self.bus {
            Some(address) => command.env("DBUS_SESSION_BUS_ADDRESS", address),
            None => command.env_remove("DBUS_SESSION_BUS_ADDRESS"),
        };
        command
    }

    fn run(&self, program: &str, args: &[&str]) -> Output {
        self.command(program, args).output().unwrap()
    }

    fn massage_cue(&self, args: &[&str]) -> Output {
        let output = self.run(BIN, args);
        assert!(
            output.status.success(),
            "massage-cue {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    /// `massage-cue start ROUTINE`, then waits until the session runs.
    /// Planning with the real voice can take longer than the client waits
    /// for a reply in a debug build on a busy machine; the daemon still
    /// starts the session, which is what is waited for.
    fn start(&self, routine: &str) {
        let output = self.run(BIN, &["start", routine]);
        let said = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success() || said.contains("no reply in time"),
            "massage-cue start {routine}: {said}"
        );
        wait_for("the session to start", || {
            self.status()["state"] == "running"
        });
    }

    fn status(&self) -> Value {
        serde_json::from_slice(&self.massage_cue(&["status", "--json"]).stdout).unwrap()
    }

    /// `playerctl -p massage-cue ARGS`, which must succeed.
    fn playerctl(&self, args: &[&str]) -> String {
        let mut all = vec!["-p", "massage-cue"];
        all.extend_from_slice(args);
        let output = self.run("playerctl", &all);
        assert!(
            output.status.success(),
            "playerctl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    }

    /// Starts `massage-cue daemon` in the foreground, logging to
    /// [`Home::log`], and waits until it answers.
    fn daemon(&self) -> Daemon {
        let log = fs::File::create(self.log()).unwrap();
        let child = self
            .command(BIN, &["daemon"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let daemon = Daemon(child);
        let socket = self.path().join("run/massage-cue.sock");
        wait_for("the daemon's socket", || {
            UnixStream::connect(&socket).is_ok()
        });
        daemon
    }
}

/// A daemon run by a test, stopped when dropped.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = kill(Pid::from_raw(self.0.id() as i32).unwrap(), Signal::TERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The step index in a status, -1 before the first step.
fn step(status: &Value) -> i64 {
    status["step"].as_i64().unwrap_or(-1)
}

#[test]
fn media_controls_pause_resume_and_skip_a_session() {
    require("playerctl");
    let bus = Bus::start();
    let home = Home::new(Some(&bus));
    let _daemon = home.daemon();
    wait_for("the daemon on the session bus", || {
        let listed = home.run("playerctl", &["--list-all"]);
        String::from_utf8_lossy(&listed.stdout)
            .lines()
            .any(|l| l.trim() == "massage-cue")
    });
    assert_eq!(home.playerctl(&["status"]), "Stopped");

    home.start("lower-back");
    wait_for("MPRIS to show the session playing", || {
        home.playerctl(&["status"]) == "Playing"
    });
    assert_eq!(home.playerctl(&["metadata", "album"]), "Lower back massage");
    let length: u64 = home
        .playerctl(&["metadata", "mpris:length"])
        .parse()
        .unwrap();
    let status = home.status();
    let session_us =
        (status["elapsed_ms"].as_u64().unwrap() + status["remaining_ms"].as_u64().unwrap()) * 1000;
    assert!(
        length.abs_diff(session_us) < 1_000_000,
        "length {length} µs, session {session_us} µs"
    );

    home.playerctl(&["play-pause"]);
    wait_for("the session to pause", || {
        home.status()["state"] == "paused"
    });
    assert_eq!(home.playerctl(&["status"]), "Paused");

    home.playerctl(&["play-pause"]);
    wait_for("the session to resume", || {
        home.status()["state"] == "running"
    });
    assert_eq!(home.playerctl(&["status"]), "Playing");

    let before = step(&home.status());
    home.playerctl(&["next"]);
    wait_for("the next step", || step(&home.status()) > before);
    let after = home.status();
    assert_eq!(after["state"], "running");
    let title = home.playerctl(&["metadata", "title"]);
    assert_eq!(Value::from(title), after["step_name"]);

    home.playerctl(&["next"]);
    wait_for("the step after", || step(&home.status()) > step(&after));

    home.playerctl(&["previous"]);
    wait_for("the step before", || step(&home.status()) <= step(&after));

    home.playerctl(&["pause"]);
    wait_for("pause", || home.status()["state"] == "paused");
    home.playerctl(&["play"]);
    wait_for("play", || home.status()["state"] == "running");

    home.playerctl(&["stop"]);
    wait_for("the session to stop", || home.status()["state"] == "idle");
    assert_eq!(home.playerctl(&["status"]), "Stopped");
    // a media key with nothing to control is no error
    home.playerctl(&["play-pause"]);
    assert_eq!(home.status()["state"], "idle");

    let log = fs::read_to_string(home.log()).unwrap();
    assert!(
        log.contains("MPRIS media controls on org.mpris.MediaPlayer2.massage-cue"),
        "{log}"
    );
}

/// Lines a child prints, read on a thread so that a test can wait for
/// them with a deadline.
struct Lines {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Lines {
    fn spawn(mut command: Command) -> Lines {
        let mut child = command.stdout(Stdio::piped()).spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if send.send(line.trim().to_owned()).is_err() {
                    return;
                }
            }
        });
        Lines { child, lines }
    }

    /// Waits for a line equal to `wanted`, skipping others.
    fn expect(&self, wanted: &str) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line == wanted => return,
                Ok(_) => {}
                Err(_) => panic!("no line `{wanted}` within {PATIENCE:?}"),
            }
        }
    }
}

impl Drop for Lines {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn desktop_listeners_are_told_of_changes_made_on_the_socket() {
    require("playerctl");
    let bus = Bus::start();
    let home = Home::new(Some(&bus));
    let _daemon = home.daemon();
    wait_for("the daemon on the session bus", || {
        let listed = home.run("playerctl", &["--list-all"]);
        String::from_utf8_lossy(&listed.stdout)
            .lines()
            .any(|l| l.trim() == "massage-cue")
    });
    // `--follow` prints again only when the player signals a change
    let status =
        Lines::spawn(home.command("playerctl", &["-p", "massage-cue", "--follow", "status"]));
    status.expect("Stopped");
    let titles = Lines::spawn(home.command(
        "playerctl",
        &["-p", "massage-cue", "--follow", "metadata", "title"],
    ));
    home.start("lower-back");
    status.expect("Playing");
    home.massage_cue(&["pause"]);
    status.expect("Paused");
    home.massage_cue(&["resume"]);
    status.expect("Playing");
    home.massage_cue(&["next"]);
    let step = home.status()["step_name"].as_str().unwrap().to_owned();
    titles.expect(&step);
    home.massage_cue(&["stop"]);
    status.expect("Stopped");
}

#[test]
fn without_a_session_bus_the_daemon_runs_and_says_so_once() {
    let home = Home::new(None);
    let _daemon = home.daemon();
    // the daemon answers, and its log has the one line
    assert_eq!(home.status()["state"], "idle");
    wait_for("the line about the missing bus", || {
        fs::read_to_string(home.log())
            .unwrap()
            .contains("no MPRIS media controls")
    });
    home.start("lower-back");
    home.massage_cue(&["pause"]);
    assert_eq!(home.status()["state"], "paused");
    let log = fs::read_to_string(home.log()).unwrap();
    assert_eq!(log.matches("no MPRIS media controls").count(), 1, "{log}");
}
