//! The daemon fixture: a user's folders in one temporary folder, the real
//! binary started in them as `massage-cue daemon`, asked over its socket,
//! its log read, and stopped when the test ends. Every wait is on a
//! condition, with a deadline.
//!
//! Declared by `tests/main.rs` rather than `mod.rs`: it names the binary
//! under test, which examples sharing `common` cannot.

use std::ffi::OsStr;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process as kill};
use serde_json::{Value, json};

use crate::common::sound_server::PrivateServer;
pub use crate::common::wait::{wait_for, wait_until};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_massage-cue");

/// The source tree: bundled routines, sounds, scripts.
pub const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// A `PULSE_SERVER` where nothing listens: programs find no sound server,
/// not even a user's own, and a session plays as text.
const NO_SOUND_SERVER: &str = "unix:/nonexistent/massage-cue-test";

/// Where a home's programs find a sound server.
#[derive(Debug)]
enum Sound {
    /// None: sessions play as text, and never sound into a sink that
    /// another test records.
    Off,
    /// The one this test process reaches (see
    /// [`crate::common::sound_server::run_with_sound_server`]).
    Inherited,
    /// A server of the home's own, which the test may kill and restart.
    Private(PrivateServer),
}

/// A user's folders, all in one temporary folder: configuration, state,
/// cache and runtime (socket) folders, and routine files written there.
///
/// Built as `Home::new()` and adjusted by the methods that take `self`.
#[derive(Debug)]
pub struct Home {
    // fields drop in this order: a private sound server is stopped while
    // its folder, which holds its pid, still exists
    sound: Sound,
    dir: tempfile::TempDir,
    routines: PathBuf,
    bus: Option<String>,
    patience: Duration,
    started: AtomicUsize,
}

impl Home {
    /// A home with no sound server, no session bus, no bundled routines,
    /// and 10 s of patience.
    pub fn new() -> Home {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        fs::create_dir(&run).unwrap();
        fs::set_permissions(&run, fs::Permissions::from_mode(0o700)).unwrap();
        Home {
            routines: dir.path().join("no-bundled-routines"),
            dir,
            sound: Sound::Off,
            bus: None,
            patience: Duration::from_secs(10),
            started: AtomicUsize::new(0),
        }
    }

    /// How long anything may take before the test fails: the daemon to
    /// answer, a reply, the daemon to exit.
    pub fn patience(mut self, patience: Duration) -> Home {
        self.patience = patience;
        self
    }

    /// Routines named without a path are the bundled ones.
    pub fn bundled_routines(mut self) -> Home {
        self.routines = Path::new(ROOT).join("routines");
        self
    }

    /// Its programs play into this process's sound server.
    pub fn inherited_sound(mut self) -> Home {
        self.sound = Sound::Inherited;
        self
    }

    /// Its programs play into a sound server of its own, started now.
    pub fn private_sound_server(mut self) -> Home {
        self.sound = Sound::Private(PrivateServer::start_in(self.path().join("sound")));
        self
    }

    /// Its programs reach the session bus at `address`.
    pub fn session_bus(mut self, address: &str) -> Home {
        self.bus = Some(address.to_owned());
        self
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn socket(&self) -> PathBuf {
        self.path().join("run/massage-cue.sock")
    }

    pub fn state_dir(&self) -> PathBuf {
        self.path().join("state/massage-cue")
    }

    /// The home's own sound server; panics if it has none.
    pub fn sound_server(&self) -> &PrivateServer {
        match &self.sound {
            Sound::Private(server) => server,
            _ => panic!("this home has no sound server of its own"),
        }
    }

    /// Writes a routine file named `file_name` and returns its path.
    pub fn routine(&self, file_name: &str, text: &str) -> PathBuf {
        let path = self.path().join(file_name);
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
        self.command_as(BIN, args)
    }

    /// `program` with this home's environment.
    pub fn command_as(&self, program: impl AsRef<OsStr>, args: &[&str]) -> Command {
        let home = self.path();
        let mut command = Command::new(program);
        // every folder it uses under the home; plain `info` logs; no input
        command
            .args(args)
            .env("HOME", home)
            .env("XDG_RUNTIME_DIR", home.join("run"))
            .env("XDG_STATE_HOME", home.join("state"))
            .env("XDG_CONFIG_HOME", home.join("config"))
            .env("XDG_CACHE_HOME", home.join("cache"))
            .env("XDG_DATA_HOME", home.join("data"))
            .env("XDG_DATA_DIRS", home.join("data-dirs"))
            // the natural voice only where a test installs it in the home
            .env_remove("MASSAGE_CUE_KOKORO")
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .env("MASSAGE_CUE_ROUTINES", &self.routines)
            .stdin(Stdio::null());
        match &self.sound {
            Sound::Off => command.env("PULSE_SERVER", NO_SOUND_SERVER),
            Sound::Inherited => &mut command,
            Sound::Private(server) => command.env("PULSE_SERVER", &server.address),
        };
        match &self.bus {
            Some(address) => command.env("DBUS_SESSION_BUS_ADDRESS", address),
            None => command.env_remove("DBUS_SESSION_BUS_ADDRESS"),
        };
        command
    }

    /// Runs the binary to its end.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// `plan --json` of the routine `args` name, from the real binary, which
    /// must succeed.
    pub fn plan_json(&self, args: &[&str]) -> Value {
        let out = self
            .command(&["plan", "--json"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("plan JSON")
    }

    /// Where the binary caches the phrases it renders.
    pub fn speech_cache(&self) -> PathBuf {
        self.path().join("cache/massage-cue/speech")
    }

    /// `status --json` from the real client, which must succeed.
    pub fn client_status(&self) -> Value {
        let output = self.run(&["status", "--json"]);
        assert!(
            output.status.success(),
            "status --json: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).expect("status --json prints JSON")
    }

    /// Starts `massage-cue daemon` in the foreground, its log in a file of
    /// its own, and waits until it answers.
    pub fn daemon(&self) -> Daemon {
        self.daemon_with(self.command(&["daemon"]))
    }

    /// Starts a daemon with `command` (this home's [`Home::command`] or
    /// [`Home::command_as`], adjusted), its log in a file of its own, and
    /// waits until it answers.
    pub fn daemon_with(&self, command: Command) -> Daemon {
        let n = self.started.fetch_add(1, Ordering::Relaxed) + 1;
        let log = self.path().join(format!("daemon-{n}.log"));
        let stderr = fs::File::create(&log).unwrap();
        self.spawn_daemon(command, stderr.into(), Some(log))
    }

    /// Starts a daemon with `command`, its log sent to `stderr`, and waits
    /// until it answers.
    pub fn daemon_logging_to(&self, command: Command, stderr: Stdio) -> Daemon {
        self.spawn_daemon(command, stderr, None)
    }

    fn spawn_daemon(&self, mut command: Command, stderr: Stdio, log: Option<PathBuf>) -> Daemon {
        let child = command
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let mut daemon = Daemon {
            child,
            log,
            patience: self.patience,
        };
        let socket = self.socket();
        wait_until("the daemon to answer on its socket", self.patience, || {
            assert!(
                daemon.alive(),
                "the daemon exited before it answered; its log:\n{}",
                daemon.log_tail()
            );
            UnixStream::connect(&socket).is_ok()
        });
        daemon
    }

    /// The pid written in the lock file: that of a daemon a client started.
    pub fn daemon_pid(&self) -> i32 {
        let text = fs::read_to_string(self.path().join("run/massage-cue.sock.lock")).unwrap();
        text.trim().parse().unwrap()
    }

    /// A new connection to the daemon's socket.
    pub fn connect(&self) -> Connection {
        Connection::open(&self.socket(), self.patience)
    }

    /// Sends one request on a new connection; the reply.
    pub fn ask(&self, request: Value) -> Value {
        self.connect().ask(request)
    }

    /// Sends a request that must succeed; the status it returns.
    pub fn ok(&self, request: Value) -> Value {
        self.connect().ok(request)
    }

    /// The status, asked over the socket.
    pub fn status(&self) -> Value {
        self.connect().status()
    }

    /// Starts the routine at `path` over the socket; the status.
    pub fn start(&self, path: &Path) -> Value {
        self.ok(start_request(path))
    }

    /// Sends the request `name`, which takes no arguments and must succeed;
    /// the status.
    pub fn simple(&self, name: &str) -> Value {
        self.ok(request(name))
    }
}

impl Default for Home {
    fn default() -> Self {
        Home::new()
    }
}

/// The request `name` with no arguments.
pub fn request(name: &str) -> Value {
    json!({"version": 1, "request": name})
}

/// A request to start `routine` (a path or the name of a bundled routine).
pub fn start_request(routine: impl AsRef<Path>) -> Value {
    let routine = routine.as_ref().to_str().unwrap();
    json!({"version": 1, "request": "start", "routine": routine})
}

/// A daemon run by a test. When the test ends with it still running, it
/// is stopped (SIGTERM), and killed if it has not exited within the home's
/// patience.
#[derive(Debug)]
pub struct Daemon {
    pub child: Child,
    log: Option<PathBuf>,
    patience: Duration,
}

impl Daemon {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, signal: Signal) {
        kill(Pid::from_raw(self.child.id() as i32).unwrap(), signal).unwrap();
    }

    pub fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Waits for the daemon to exit; its exit code.
    pub fn wait(&mut self) -> Option<i32> {
        wait_for("the daemon to exit", self.patience, || {
            self.child.try_wait().unwrap().map(|status| status.code())
        })
    }

    /// SIGKILL, and wait until it is gone.
    pub fn kill9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Its log so far; empty when it logs to no file.
    pub fn log(&self) -> String {
        self.log
            .as_ref()
            .and_then(|log| fs::read_to_string(log).ok())
            .unwrap_or_default()
    }

    /// The end of its log, for a failure message: each line once, without
    /// the sound backend's repetitions.
    pub fn log_tail(&self) -> String {
        let text = self.log();
        let mut seen = std::collections::HashSet::new();
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with("ALSA lib") && !l.contains("symphonia"))
            .filter(|l| seen.insert(l.split_once("Z ").map_or(*l, |(_, m)| m)))
            .collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if !self.alive() {
            return;
        }
        self.signal(Signal::TERM);
        let deadline = Instant::now() + self.patience;
        while self.alive() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A daemon that a client started (detached, so not a child of the test):
/// stopped if the test ends before it.
#[derive(Debug)]
pub struct Detached(pub i32);

impl Drop for Detached {
    fn drop(&mut self) {
        let _ = kill(Pid::from_raw(self.0).unwrap(), Signal::TERM);
    }
}

/// A connection to the daemon, speaking lines of JSON.
#[derive(Debug)]
pub struct Connection {
    reader: BufReader<UnixStream>,
    pub writer: UnixStream,
}

impl Connection {
    /// Connects to `socket`; a reply may take up to `patience`.
    pub fn open(socket: &Path, patience: Duration) -> Connection {
        let stream = UnixStream::connect(socket).unwrap();
        stream.set_read_timeout(Some(patience)).unwrap();
        Connection {
            writer: stream.try_clone().unwrap(),
            reader: BufReader::new(stream),
        }
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).unwrap();
    }

    /// The next reply, as JSON; `None` when the daemon closed the
    /// connection.
    pub fn reply(&mut self) -> Option<Value> {
        let mut line = String::new();
        let n = self.reader.read_line(&mut line).unwrap();
        if n == 0 {
            return None;
        }
        let value: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
        assert_eq!(value["version"], 1, "{line}");
        Some(value)
    }

    /// Sends `request`; the reply.
    pub fn ask(&mut self, request: Value) -> Value {
        let mut line = request.to_string();
        line.push('\n');
        self.send_raw(line.as_bytes());
        self.reply().expect("a reply")
    }

    /// Sends a request that must succeed; the status in the reply.
    pub fn ok(&mut self, request: Value) -> Value {
        let reply = self.ask(request.clone());
        assert_eq!(reply["reply"], "ok", "{request} → {reply}");
        reply["status"].clone()
    }

    pub fn status(&mut self) -> Value {
        self.ok(self::request("status"))
    }

    /// Whether the daemon closed the connection (a reset counts: closing
    /// with bytes left unread resets a connection).
    pub fn closed(&mut self) -> bool {
        let mut rest = Vec::new();
        match self.reader.read_to_end(&mut rest) {
            Ok(_) => rest.is_empty(),
            Err(err) => err.kind() == std::io::ErrorKind::ConnectionReset,
        }
    }
}
