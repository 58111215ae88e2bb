//! Real audio in tests: a sound server with the null sink `test_sink` to
//! play into, and a recorder of what it played.
//!
//! When a server with `test_sink` is already reachable (`scripts/test`
//! starts one), the tests use it. Otherwise each test process starts its
//! own private server with `scripts/sound-server start --private`, so it
//! never plays into real speakers nor records anyone else's sound, and
//! stops it afterwards. rodio finds the server through the process
//! environment (`PULSE_SERVER`), which a test cannot change safely while
//! other threads run, so the test is then run again in a child process
//! with `PULSE_SERVER` set.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

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

/// A private server started for this process; stopped on drop, even when
/// the test panics.
struct PrivateServer {
    dir: PathBuf,
}

impl PrivateServer {
    /// Starts it and returns it with its `PULSE_SERVER` address.
    fn start() -> (PrivateServer, String) {
        let dir =
            std::env::temp_dir().join(format!("massage-cue-sound-test-{}", std::process::id()));
        let out = Command::new(script())
            .args(["start", "--private"])
            .env("MC_SOUND_DIR", &dir)
            .stderr(Stdio::inherit())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script().display()));
        let server = PrivateServer { dir };
        assert!(
            out.status.success(),
            "scripts/sound-server start failed (see its message above); real-audio tests need \
             the Debian packages pulseaudio, pulseaudio-utils and libasound2-plugins"
        );
        let exports = String::from_utf8_lossy(&out.stdout);
        let address = exports
            .lines()
            .find_map(|l| l.strip_prefix("export PULSE_SERVER="))
            .unwrap_or_else(|| panic!("scripts/sound-server printed no PULSE_SERVER: {exports:?}"))
            .to_owned();
        (server, address)
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        let _ = Command::new(script())
            .arg("stop")
            .env("MC_SOUND_DIR", &self.dir)
            .status();
    }
}

/// Runs `body` with a sound server whose default sink is `test_sink`
/// reachable from this process.
///
/// `test_name` is the test's function name: when no such server is
/// reachable, a private one is started, the test binary is run again for
/// that one test with `PULSE_SERVER` pointing at it, and the server is
/// stopped afterwards. Fails, never skips, when the server cannot be
/// started (the script names the missing package).
pub fn run_with_sound_server(test_name: &str, body: impl FnOnce()) {
    if std::env::var_os(CHILD_MARK).is_some() {
        return body();
    }
    let _one = serialize();
    if test_sink_reachable() {
        return body();
    }
    let (_server, address) = PrivateServer::start();
    let status = super::rerun::this_test_again(test_name)
        .env("PULSE_SERVER", address)
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
        let _ = std::fs::remove_file(path);
        let child = Command::new("parec")
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
