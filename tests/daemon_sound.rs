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

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process as kill};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_massage-cue");

/// How long starting things (a server, the daemon, a session) may take.
const PATIENCE: Duration = Duration::from_secs(20);

/// How long the daemon may take to notice that the sound output is gone,
/// or back.
const NOTICE: Duration = Duration::from_secs(15);

/// How long starting a session may take: the voice is prepared first.
const START_PATIENCE: Duration = Duration::from_secs(60);

/// About six minutes, a cue every few seconds.
const ROUTINE: &str = "hip-knee-mobility";

fn source_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Waits until `ready` gives a value, failing the test after `patience`.
fn wait_for<T>(what: &str, patience: Duration, mut ready: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + patience;
    loop {
        if let Some(value) = ready() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {patience:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A PulseAudio server with the null sink `test_sink`, for one test only.
struct SoundServer {
    dir: PathBuf,
    address: String,
}

impl SoundServer {
    fn start(dir: PathBuf) -> SoundServer {
        let mut server = SoundServer {
            dir,
            address: String::new(),
        };
        server.address = server.run_script();
        server
    }

    /// `scripts/sound-server start --private` in this server's folder; the
    /// `PULSE_SERVER` address it prints.
    fn run_script(&self) -> String {
        let script = source_dir().join("scripts/sound-server");
        let out = Command::new(&script)
            .args(["start", "--private"])
            .env("MC_SOUND_DIR", &self.dir)
            .stderr(Stdio::inherit())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        assert!(
            out.status.success(),
            "scripts/sound-server start failed (see its message above); this test needs the \
             Debian packages pulseaudio, pulseaudio-utils and libasound2-plugins"
        );
        let exports = String::from_utf8_lossy(&out.stdout);
        exports
            .lines()
            .find_map(|l| l.strip_prefix("export PULSE_SERVER="))
            .unwrap_or_else(|| panic!("scripts/sound-server printed no PULSE_SERVER: {exports:?}"))
            .to_owned()
    }

    fn pid(&self) -> i32 {
        fs::read_to_string(self.dir.join("started.pid"))
            .expect("the sound server's pid file")
            .trim()
            .parse()
            .expect("a pid")
    }

    /// Kills the server at once, as a crash would, and waits until it is
    /// gone.
    fn kill(&self) {
        let pid = Pid::from_raw(self.pid()).unwrap();
        kill(pid, Signal::KILL).expect("kill the sound server");
        wait_for("the sound server to die", PATIENCE, || {
            let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            (stat.is_empty() || stat.contains(") Z ")).then_some(())
        });
    }

    /// Starts it again on the same socket.
    fn restart(&self) {
        let address = self.run_script();
        assert_eq!(address, self.address, "the server came back elsewhere");
    }

    /// Whether anything louder than `threshold` plays into the sink within
    /// `patience`, recorded from its monitor.
    fn hears_sound(&self, threshold: f32, patience: Duration) -> bool {
        let mut parec = Command::new("parec")
            .args(["-d", "test_sink.monitor", "--raw"])
            .args(["--format=s16le", "--rate=48000", "--channels=1"])
            .env("PULSE_SERVER", &self.address)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start parec (Debian package pulseaudio-utils)");
        let mut stdout = parec.stdout.take().expect("parec's output");
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4800];
            loop {
                match stdout.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        let loud = buf[..n & !1].chunks_exact(2).any(|b| {
                            f32::from(i16::from_le_bytes([b[0], b[1]])).abs() / 32768.0 > threshold
                        });
                        if loud {
                            let _ = tx.send(());
                            return;
                        }
                    }
                }
            }
        });
        let heard = rx.recv_timeout(patience).is_ok();
        let _ = parec.kill();
        let _ = parec.wait();
        let _ = reader.join();
        heard
    }
}

impl Drop for SoundServer {
    fn drop(&mut self) {
        let _ = Command::new(source_dir().join("scripts/sound-server"))
            .arg("stop")
            .env("MC_SOUND_DIR", &self.dir)
            .stderr(Stdio::null())
            .status();
    }
}

/// A user's folders and a sound server, all in one temporary folder.
struct Home {
    // fields drop in this order: the server is stopped while its folder,
    // which holds its pid, still exists
    sound: SoundServer,
    dir: tempfile::TempDir,
}

impl Home {
    fn new(config: &str) -> Home {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        fs::create_dir(&run).unwrap();
        fs::set_permissions(&run, fs::Permissions::from_mode(0o700)).unwrap();
        let config_dir = dir.path().join("config/massage-cue");
        fs::create_dir_all(&config_dir).unwrap();
        fs::write(config_dir.join("config.toml"), config).unwrap();
        let sound = SoundServer::start(dir.path().join("sound"));
        Home { dir, sound }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn socket(&self) -> PathBuf {
        self.path().join("run/massage-cue.sock")
    }

    /// The binary with this home's environment and sound server.
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(BIN);
        crate::common::home::confine(command.args(args), self.path())
            .env("MASSAGE_CUE_ROUTINES", source_dir().join("routines"))
            .env("PULSE_SERVER", &self.sound.address);
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// Starts `massage-cue daemon` in the foreground and waits until it
    /// answers.
    fn daemon(&self) -> Daemon {
        let log = fs::File::create(self.path().join("daemon.log")).unwrap();
        let child = self
            .command(&["daemon"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let daemon = Daemon { child };
        let socket = self.socket();
        wait_for("the daemon's socket", PATIENCE, || {
            UnixStream::connect(&socket).ok()
        });
        daemon
    }

    /// `status --json` from the real client.
    fn status(&self) -> Value {
        let output = self.run(&["status", "--json"]);
        assert!(
            output.status.success(),
            "status --json: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).expect("status --json prints JSON")
    }

    /// Waits until `status --json` satisfies `ready`; that status.
    fn wait_status(
        &self,
        what: &str,
        patience: Duration,
        daemon: &mut Daemon,
        ready: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + patience;
        loop {
            // a client starts a daemon when none runs: make sure ours does
            assert!(daemon.alive(), "the daemon died; its log:\n{}", self.log());
            let status = self.status();
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

    /// The end of the daemon's log, for a failure message.
    fn log(&self) -> String {
        let text = fs::read_to_string(self.path().join("daemon.log")).unwrap_or_default();
        // the sound backend repeats itself: each message once
        let mut seen = std::collections::HashSet::new();
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with("ALSA lib") && !l.contains("symphonia"))
            .filter(|l| seen.insert(l.split_once("Z ").map_or(*l, |(_, m)| m)))
            .collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Starts the routine over the socket; the status in the reply. Sent
    /// directly rather than with the client, whose reply timeout an
    /// unoptimised build, decoding the voice pack, can overrun.
    fn start(&self) -> Value {
        let stream = UnixStream::connect(self.socket()).unwrap();
        stream.set_read_timeout(Some(START_PATIENCE)).unwrap();
        let mut writer = stream.try_clone().unwrap();
        writeln!(
            writer,
            r#"{{"version":1,"request":"start","routine":"{ROUTINE}"}}"#
        )
        .unwrap();
        let mut line = String::new();
        BufReader::new(stream)
            .read_line(&mut line)
            .expect("a reply to start");
        let reply: Value = serde_json::from_str(&line).expect("a JSON reply");
        assert_eq!(reply["reply"], "ok", "start: {line}");
        reply["status"].clone()
    }

    /// Subscribes to the daemon's updates and waits until `count` cues
    /// have been spoken.
    fn wait_for_cues(&self, count: usize) {
        let stream = UnixStream::connect(self.socket()).unwrap();
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        let mut writer = stream.try_clone().unwrap();
        writer
            .write_all(b"{\"version\":1,\"request\":\"subscribe\"}\n")
            .unwrap();
        let mut reader = BufReader::new(stream);
        let mut spoken = 0;
        let deadline = Instant::now() + PATIENCE;
        while spoken < count {
            assert!(Instant::now() < deadline, "only {spoken} cues were spoken");
            let mut line = String::new();
            let n = reader.read_line(&mut line).expect("an update");
            assert!(n > 0, "the daemon closed the subscription");
            let update: Value = serde_json::from_str(&line).unwrap();
            assert_ne!(update["reply"], "error", "{line}");
            if update["cue"].is_object() {
                spoken += 1;
            }
        }
    }
}

/// A daemon run by a test, killed if the test ends before it exits.
struct Daemon {
    child: Child,
}

impl Daemon {
    fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.alive() {
            let _ = kill(Pid::from_raw(self.child.id() as i32).unwrap(), Signal::TERM);
            let deadline = Instant::now() + PATIENCE;
            while self.alive() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
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
    let started = home.start();
    assert_eq!(state(&started), "running", "{started}");
    home.wait_for_cues(3);
    assert!(
        home.sound.hears_sound(0.01, PATIENCE),
        "the session was not heard on the sound server; the daemon's log:\n{}",
        home.log()
    );

    home.sound.kill();
    let paused = home.wait_status(
        "the session to pause for the lost sound output",
        NOTICE,
        daemon,
        |s| state(s) == "paused" && message(s).contains("sound output"),
    );
    assert!(message(&paused).contains("lost"), "{paused}");
    // paused where it was: the position does not move on
    let elapsed = paused["elapsed_ms"].as_u64().expect("elapsed_ms");
    assert!(elapsed > 0, "{paused}");
    let again = home.wait_status("a second status", PATIENCE, daemon, |_| true);
    assert_eq!(state(&again), "paused", "{again}");
    assert_eq!(again["elapsed_ms"].as_u64(), Some(elapsed), "{again}");
    assert_eq!(again["routine"], paused["routine"]);
    paused
}

#[test]
fn a_lost_sound_output_pauses_the_session_and_resume_carries_on_once_it_is_back() {
    let home = Home::new("");
    let mut daemon = home.daemon();
    let paused = lose_sound_mid_session(&home, &mut daemon);

    // with the server still away, resume is refused and nothing changes
    let output = home.run(&["resume"]);
    assert!(!output.status.success(), "resume without sound succeeded");
    assert_eq!(state(&home.status()), "paused");

    home.sound.restart();
    let back = home.wait_status(
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
    assert_eq!(state(&home.status()), "running");
    assert!(
        home.sound.hears_sound(0.01, PATIENCE),
        "nothing was heard after resuming; the daemon's log:\n{}",
        home.log()
    );
    let later = home.wait_status("the session to move on", PATIENCE, &mut daemon, |s| {
        s["elapsed_ms"].as_u64() > paused["elapsed_ms"].as_u64()
    });
    assert_eq!(state(&later), "running", "{later}");
}

#[test]
fn with_auto_resume_the_session_carries_on_by_itself_once_sound_is_back() {
    let home = Home::new("[audio]\nauto_resume = true\n");
    let mut daemon = home.daemon();
    let paused = lose_sound_mid_session(&home, &mut daemon);

    home.sound.restart();
    let resumed = home.wait_status(
        "the session to resume by itself",
        NOTICE,
        &mut daemon,
        |s| state(s) == "running",
    );
    assert!(message(&resumed).contains("back"), "{resumed}");
    assert!(
        home.sound.hears_sound(0.01, PATIENCE),
        "nothing was heard after the session resumed; the daemon's log:\n{}",
        home.log()
    );
    let later = home.wait_status("the session to move on", PATIENCE, &mut daemon, |s| {
        s["elapsed_ms"].as_u64() > paused["elapsed_ms"].as_u64()
    });
    assert_eq!(state(&later), "running", "{later}");
}
