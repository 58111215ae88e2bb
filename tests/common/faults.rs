//! A daemon run in a private home for fault tests: started in the
//! foreground, killed outright, started again, asked over its socket.
//!
//! Included by tests/faults.rs alone (with `#[path]`), not from `mod.rs`:
//! it needs the binary's path, which examples sharing `common` lack.
#![allow(dead_code)]

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_massage-cue");

/// How long anything here may take before a test fails.
pub const PATIENCE: Duration = Duration::from_secs(15);

/// Waits until `ready` gives a value, failing the test after `patience`.
pub fn wait_for<T>(what: &str, patience: Duration, mut ready: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + patience;
    loop {
        if let Some(value) = ready() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A user's folders, all in one temporary folder, with routine files.
pub struct FaultHome {
    pub dir: tempfile::TempDir,
    started: usize,
    /// Whether its daemons reach the sound server of this process.
    sound: bool,
}

impl FaultHome {
    /// A home whose daemons play no sound (their cues are text only), so
    /// they never sound into a sink that another test records.
    pub fn new() -> FaultHome {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        fs::create_dir(&run).unwrap();
        fs::set_permissions(&run, fs::Permissions::from_mode(0o700)).unwrap();
        FaultHome {
            dir,
            started: 0,
            sound: false,
        }
    }

    /// A home whose daemons play into this process's sound server.
    pub fn with_sound() -> FaultHome {
        FaultHome {
            sound: true,
            ..FaultHome::new()
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn state_dir(&self) -> PathBuf {
        self.path().join("state/massage-cue")
    }

    pub fn cache_dir(&self) -> PathBuf {
        self.path().join("cache/massage-cue")
    }

    /// Writes a routine file and returns its path.
    pub fn routine(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path().join(format!("{name}.toml"));
        fs::write(&path, text).unwrap();
        path
    }

    /// Writes the user's configuration file.
    pub fn config(&self, text: &str) {
        let dir = self.path().join("config/massage-cue");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("config.toml"), text).unwrap();
    }

    /// The binary with this home's environment.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(BIN);
        crate::common::home::confine(command.args(args), self.path()).env(
            "MASSAGE_CUE_ROUTINES",
            self.path().join("no-bundled-routines"),
        );
        if !self.sound {
            command.env_remove("PULSE_SERVER");
        }
        command
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// Starts `massage-cue daemon` in the foreground, its log in a file of
    /// its own, and waits until it answers.
    pub fn daemon(&mut self) -> Daemon {
        self.started += 1;
        let log = self.path().join(format!("daemon-{}.log", self.started));
        let child = self
            .command(&["daemon"])
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let daemon = Daemon { child, log };
        let socket = self.path().join("run/massage-cue.sock");
        wait_for("the daemon's socket", PATIENCE, || {
            UnixStream::connect(&socket).ok()
        });
        daemon
    }

    /// Sends one request over the socket; the reply.
    pub fn ask(&self, request: Value) -> Value {
        let mut stream = UnixStream::connect(self.path().join("run/massage-cue.sock")).unwrap();
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        let mut line = request.to_string();
        line.push('\n');
        stream.write_all(line.as_bytes()).unwrap();
        let mut reply = String::new();
        BufReader::new(stream).read_line(&mut reply).unwrap();
        serde_json::from_str(&reply).unwrap_or_else(|e| panic!("{e}: {reply:?}"))
    }

    /// Sends a request that must succeed; the status it returns.
    pub fn ok(&self, request: Value) -> Value {
        let reply = self.ask(request.clone());
        assert_eq!(reply["reply"], "ok", "{request} → {reply}");
        reply["status"].clone()
    }

    pub fn status(&self) -> Value {
        self.ok(serde_json::json!({"version": 1, "request": "status"}))
    }

    /// Starts the routine at `path`.
    pub fn start(&self, path: &Path) -> Value {
        self.ok(serde_json::json!({
            "version": 1, "request": "start", "routine": path.to_str().unwrap()
        }))
    }

    pub fn simple(&self, request: &str) -> Value {
        self.ok(serde_json::json!({"version": 1, "request": request}))
    }
}

impl Default for FaultHome {
    fn default() -> Self {
        FaultHome::new()
    }
}

/// A daemon run by a test; killed if the test ends before it exits.
pub struct Daemon {
    pub child: Child,
    pub log: PathBuf,
}

impl Daemon {
    /// SIGKILL, and wait until it is gone.
    pub fn kill9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
