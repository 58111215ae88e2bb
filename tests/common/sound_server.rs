//! Real audio in tests: a sound server with the null sink `test_sink` to
//! play into, and a recorder of what it played.
//!
//! When a server with `test_sink` is already reachable (`scripts/test`
//! starts one), the tests use it. Otherwise each test process starts its
//! own private server with `scripts/sound-server start --private`, so it
//! never plays into real speakers nor records anyone else's sound, and
//! stops it afterwards. rodio finds the server through the process
//! environment (`PULSE_SERVER`), which a test cannot change safely while
//! other threads run, so each such test is run again in a child process,
//! with `PULSE_SERVER` set when the server is a private one.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process as kill};

/// Set in the child process that runs a test body against a server.
const CHILD_MARK: &str = "MASSAGE_CUE_SOUND_CHILD";

/// Real-audio tests record the same sink: one at a time per binary.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn serialize() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner)
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/sound-server")
}

/// Whether a server with the null sink `test_sink` is reachable with this
/// process's environment.
pub fn test_sink_reachable() -> bool {
    Command::new("pactl")
        .args(["list", "short", "sinks"])
        .stderr(Stdio::null())
        .output()
        .is_ok_and(|out| {
            out.status.success()
                && String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .any(|l| l.split_whitespace().nth(1) == Some("test_sink"))
        })
}

/// A private server with the null sink `test_sink`, in a folder of its own
/// (`scripts/sound-server start --private`); stopped on drop, even when the
/// test panics. Started for this process by [`run_with_sound_server`], or
/// for one test that plays with the server itself.
#[derive(Debug)]
pub struct PrivateServer {
    dir: PathBuf,
    /// Its address, for `PULSE_SERVER`.
    pub address: String,
}

impl PrivateServer {
    /// Starts one whose state (and socket) lies in `dir`.
    pub fn start_in(dir: PathBuf) -> PrivateServer {
        let mut server = PrivateServer {
            dir,
            address: String::new(),
        };
        server.address = server.run_script();
        server
    }

    /// `scripts/sound-server start --private` in this server's folder; the
    /// `PULSE_SERVER` address it prints.
    fn run_script(&self) -> String {
        let out = Command::new(script())
            .args(["start", "--private"])
            .env("MC_SOUND_DIR", &self.dir)
            .stderr(Stdio::inherit())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script().display()));
        assert!(
            out.status.success(),
            "scripts/sound-server start failed (see its message above); real-audio tests need \
             the Debian packages pulseaudio, pulseaudio-utils and libasound2-plugins"
        );
        let exports = String::from_utf8_lossy(&out.stdout);
        exports
            .lines()
            .find_map(|l| l.strip_prefix("export PULSE_SERVER="))
            .unwrap_or_else(|| panic!("scripts/sound-server printed no PULSE_SERVER: {exports:?}"))
            .to_owned()
    }

    fn pid(&self) -> i32 {
        std::fs::read_to_string(self.dir.join("started.pid"))
            .expect("the sound server's pid file")
            .trim()
            .parse()
            .expect("a pid")
    }

    /// Kills the server at once, as a crash would, and waits until it is
    /// gone.
    pub fn kill(&self, patience: Duration) {
        let pid = Pid::from_raw(self.pid()).unwrap();
        kill(pid, Signal::KILL).expect("kill the sound server");
        super::wait::wait_until("the sound server to die", patience, || {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            stat.is_empty() || stat.contains(") Z ")
        });
    }

    /// Stops it as its script does (SIGTERM, then waits until it is gone).
    pub fn stop(&self) {
        let status = Command::new(script())
            .arg("stop")
            .env("MC_SOUND_DIR", &self.dir)
            .status()
            .expect("scripts/sound-server stop");
        assert!(status.success(), "scripts/sound-server stop failed");
    }

    /// Starts it again on the same socket.
    pub fn restart(&self) {
        let address = self.run_script();
        assert_eq!(address, self.address, "the server came back elsewhere");
    }

    /// Whether anything louder than `threshold` plays into the sink within
    /// `patience`, recorded from its monitor.
    pub fn hears_sound(&self, threshold: f32, patience: Duration) -> bool {
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

impl Drop for PrivateServer {
    fn drop(&mut self) {
        let _ = Command::new(script())
            .arg("stop")
            .env("MC_SOUND_DIR", &self.dir)
            .stderr(Stdio::null())
            .status();
    }
}

/// Runs `body` with a sound server whose default sink is `test_sink`
/// reachable, in a process of its own, one such test at a time.
///
/// `test_name` is the test's function name: the test binary is run again
/// for that one test, with `PULSE_SERVER` pointing at a private server
/// started for it when none with `test_sink` is reachable (stopped
/// afterwards). Fails, never skips, when the server cannot be started (the
/// script names the missing package).
///
/// A process of its own, because opening the sound output changes the
/// whole process: the threads started while it opens are given the sound
/// threads' priority, and those of tests running beside it would be too.
pub fn run_with_sound_server(test_name: &str, body: impl FnOnce()) {
    if std::env::var_os(CHILD_MARK).is_some() {
        return body();
    }
    let _one = serialize();
    let mut again = super::rerun::this_test_again(test_name);
    let _server = (!test_sink_reachable()).then(|| {
        let server = PrivateServer::start_in(
            std::env::temp_dir().join(format!("massage-cue-sound-test-{}", std::process::id())),
        );
        again.env("PULSE_SERVER", &server.address);
        server
    });
    let status = again
        .env(CHILD_MARK, "1")
        .status()
        .expect("cannot run the test binary again");
    assert!(
        status.success(),
        "{test_name} failed against the sound server"
    );
}

/// Bytes of recorded audio per second: 48 kHz, mono, 16-bit.
const BYTES_PER_S: f64 = 96_000.0;

/// Records what is played into `test_sink`, as a mono 48 kHz WAV file.
pub struct Recorder {
    child: Child,
    pub path: PathBuf,
    /// When the file first held audio, and how much.
    started: (Instant, u64),
}

impl Recorder {
    /// Starts `parec` and returns once it is writing audio (deadline 10 s).
    pub fn start(path: &Path) -> Recorder {
        Self::start_with(path, Command::new("parec"))
    }

    /// [`Recorder::start`], recording `server`'s sink.
    pub fn start_on(path: &Path, server: &PrivateServer) -> Recorder {
        let mut parec = Command::new("parec");
        parec.env("PULSE_SERVER", &server.address);
        Self::start_with(path, parec)
    }

    fn start_with(path: &Path, mut parec: Command) -> Recorder {
        let _ = std::fs::remove_file(path);
        let child = parec
            .args(["-d", "test_sink.monitor"])
            .args([
                "--file-format=wav",
                "--format=s16le",
                "--rate=48000",
                "--channels=1",
            ])
            .arg(path)
            .stdin(Stdio::null())
            .spawn()
            .expect("cannot start parec (Debian package pulseaudio-utils)");
        let mut recorder = Recorder {
            child,
            path: path.to_owned(),
            started: (Instant::now(), 0),
        };
        // the monitor of a running null sink delivers samples (silence or
        // not) continuously: wait until some are in the file
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let len = recorder.len();
            if len > 44 + 4_800 {
                recorder.started = (Instant::now(), len);
                return recorder;
            }
            assert!(
                Instant::now() < deadline,
                "parec wrote no audio to {} within 10 s",
                path.display()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn len(&self) -> u64 {
        std::fs::metadata(&self.path).map_or(0, |m| m.len())
    }

    /// Stops recording and returns the recorded samples and rate. First
    /// waits (up to 5 s) until the file holds audio up to the moment of the
    /// call, so nothing played before it is cut off; then SIGINT, which
    /// makes `parec` complete the WAV header.
    pub fn stop(mut self) -> (Vec<f32>, u32) {
        let (t0, len0) = self.started;
        // parec writes in fragments: allow 200 ms of slack
        let due = len0 + ((t0.elapsed().as_secs_f64() - 0.2) * BYTES_PER_S) as u64;
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.len() < due && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-INT", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.child.try_wait().expect("wait for parec").is_none() {
            assert!(Instant::now() < deadline, "parec did not stop on SIGINT");
            std::thread::sleep(Duration::from_millis(10));
        }
        super::onsets::read_wav_mono(&self.path)
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
