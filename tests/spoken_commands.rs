//! Spoken commands on the real path: a session listens on a virtual
//! microphone, the null sink `test_mic` of the home's own sound server
//! (`scripts/sound-server`), whose monitor is the `[listen] source`; the
//! test plays spoken commands into it with `paplay` while the session
//! plays into `test_sink`, and checks what the daemon then does: pause,
//! continue, next, again, more time, a bare "stop" that only pauses, and
//! "massage stop" confirmed by a second "stop" that ends the session.
//!
//! The commands are generated, never recorded by hand: the Kokoro engine
//! that `scripts/install-voice` installs says them
//! (`scripts/listen-utterances.py`), in two voices (af_heart, am_michael)
//! at three speeds, some with music or another person talking mixed in,
//! 10 dB below the command. They are kept in the build's temporary folder,
//! so a second run does not render them again. Where the engine cannot be
//! had the test says so and passes without it; `scripts/test` installs it.
//!
//! Each command is said once the daemon's own cues (and the 0.7 s it
//! ignores the microphone after each) are over. The recogniser can miss
//! a command (its rates are measured by `scripts/bench-listen`, see
//! docs/BENCHMARKS.md): one that is not heard at all is said once more,
//! and the test says so; one heard as another command, or a state that
//! does not change as the command says, fails the test.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::daemon::{Daemon, Home, ROOT, request, start_request, wait_for, wait_until};
use massage_cue::voice::Natural;

const PATIENCE: Duration = Duration::from_secs(20);

/// How long after each of its cues is handed to the output the daemon is
/// sure to hear the microphone again: the cue's length, then this. The
/// daemon ignores 0.7 s (`massage_cue::listen::GATE_TAIL`) from when its
/// listener learns of the cue, which on a busy machine can come late. With
/// 1.2 s here, the full suite once saw "massage pause" heard as "massage
/// stop" in a stretch of speech shorter than the command: likely its start
/// ignored.
const AFTER_CUE: Duration = Duration::from_millis(2_000);

/// How long after the end of a command its effect may come before it
/// counts as not heard: the recogniser waits 0.3 s of silence, and the
/// machine may be busy.
const HEARD_WITHIN: Duration = Duration::from_secs(5);

/// Long timed steps: nothing is said for minutes once one has begun.
const ROUTINE: &str = r#"
name = "Hands free"
[defaults]
change = "1s"
[[step]]
name = "Palm pressing"
time = "4m"
[[step]]
name = "Thumb circles"
time = "4m"
[[step]]
name = "Stroking"
time = "4m"
"#;

/// One command to say: its words, the voice, the speed, what sounds
/// behind it (made with `seed`), and what the daemon's log says it heard
/// (`heard Command(Pause)`).
struct Said {
    text: &'static str,
    voice: &'static str,
    speed: f64,
    noise: Option<(&'static str, u32)>,
    heard: &'static str,
}

impl Said {
    fn describe(&self) -> String {
        let noise = match self.noise {
            Some((kind, _)) => format!("{kind} 10 dB below"),
            None => "clean".into(),
        };
        format!(
            "\"{}\" ({}, speed {}, {noise})",
            self.text, self.voice, self.speed
        )
    }
}

// Among the generated utterances, these are heard right by the recogniser
// wherever they fall against its 10 ms frames (fed alone, at a dozen
// offsets); the rates over all of them are in docs/BENCHMARKS.md.
const PAUSE: Said = Said {
    text: "massage pause",
    voice: "am_michael",
    speed: 1.0,
    noise: None,
    heard: "Command(Pause)",
};
const CONTINUE: Said = Said {
    text: "massage continue",
    voice: "af_heart",
    speed: 1.15,
    noise: Some(("music", 26)),
    heard: "Command(Resume)",
};
const NEXT: Said = Said {
    text: "massage next",
    voice: "am_michael",
    speed: 1.15,
    noise: Some(("speech", 2)),
    heard: "Command(Next)",
};
const AGAIN: Said = Said {
    text: "massage again",
    voice: "am_michael",
    speed: 1.15,
    noise: Some(("speech", 72)),
    heard: "Command(Again)",
};
const MORE: Said = Said {
    text: "massage more time",
    voice: "am_michael",
    speed: 0.9,
    noise: Some(("speech", 4)),
    heard: "Command(More)",
};
const BARE_STOP: Said = Said {
    text: "stop",
    voice: "af_heart",
    speed: 0.9,
    noise: Some(("music", 110)),
    heard: "BareStop",
};
const CONTINUE_2: Said = Said {
    text: "massage continue",
    voice: "am_michael",
    speed: 1.0,
    noise: None,
    heard: "Command(Resume)",
};
const STOP: Said = Said {
    text: "massage stop",
    voice: "am_michael",
    speed: 1.0,
    noise: None,
    heard: "Command(Stop)",
};
const STOP_AGAIN: Said = Said {
    text: "stop",
    voice: "af_heart",
    speed: 1.15,
    noise: None,
    heard: "BareStop",
};

const ALL: [&Said; 9] = [
    &PAUSE,
    &CONTINUE,
    &NEXT,
    &AGAIN,
    &MORE,
    &BARE_STOP,
    &CONTINUE_2,
    &STOP,
    &STOP_AGAIN,
];

/// The installed engine's folder, or why the test cannot run it.
fn kokoro() -> Result<PathBuf, String> {
    match std::env::var_os("MC_TEST_KOKORO").filter(|v| !v.is_empty()) {
        Some(dir) => Natural::in_dir(&PathBuf::from(dir)),
        None => Natural::locate(),
    }
    .map(|natural| natural.dir)
}

/// The commands as WAV files, generated by the project's script (or found
/// in its cache), in the order given.
fn generate(kokoro: &Path, all: &[&Said]) -> Vec<PathBuf> {
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("listen-utterances");
    let mut child = Command::new(kokoro.join("venv/bin/python"))
        .arg(Path::new(ROOT).join("scripts/listen-utterances.py"))
        .arg("--kokoro")
        .arg(kokoro)
        .arg("--out")
        .arg(&cache)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("run scripts/listen-utterances.py with the engine's Python");
    let mut jobs = String::new();
    for said in all {
        let job = serde_json::json!({
            "text": said.text, "voice": said.voice, "speed": said.speed,
            "noise": said.noise.map(|(kind, _)| kind), "snr_db": 10,
            "seed": said.noise.map_or(0, |(_, seed)| seed),
        });
        jobs.push_str(&format!("{job}\n"));
    }
    child
        .stdin
        .take()
        .unwrap()
        .write_all(jobs.as_bytes())
        .unwrap();
    let files: Vec<PathBuf> = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map(|line| {
            let answer: Value = serde_json::from_str(&line.unwrap()).unwrap();
            let out = answer["out"].as_str();
            PathBuf::from(out.unwrap_or_else(|| panic!("not generated: {answer}")))
        })
        .collect();
    assert!(child.wait().unwrap().success(), "listen-utterances failed");
    assert_eq!(files.len(), all.len());
    files
}

/// When the daemon last stops speaking and the microphone is heard again,
/// from its updates: each cue is published as it is handed to the output,
/// with its length.
fn watch_cues(home: &Home) -> Arc<Mutex<Instant>> {
    let quiet = Arc::new(Mutex::new(Instant::now()));
    let mut updates = home.connect();
    updates.ok(request("subscribe"));
    let mine = Arc::clone(&quiet);
    std::thread::spawn(move || {
        while let Some(update) = updates.reply() {
            if let Some(ms) = update["cue"]["duration_ms"].as_u64() {
                let until = Instant::now() + Duration::from_millis(ms) + AFTER_CUE;
                let mut quiet = mine.lock().unwrap_or_else(PoisonError::into_inner);
                *quiet = (*quiet).max(until);
            }
        }
    });
    quiet
}

/// The session and how to speak to it.
struct Room<'a> {
    home: &'a Home,
    daemon: &'a Daemon,
    quiet: Arc<Mutex<Instant>>,
    files: Vec<PathBuf>,
}

impl Room<'_> {
    /// Waits until the daemon has said nothing for a while.
    fn wait_for_quiet(&self) {
        loop {
            let until = *self.quiet.lock().unwrap_or_else(PoisonError::into_inner);
            let now = Instant::now();
            if now >= until {
                return;
            }
            std::thread::sleep(until - now);
        }
    }

    /// The daemon's log lines of what it heard.
    fn heard(&self) -> Vec<String> {
        self.daemon
            .log()
            .lines()
            .filter_map(|l| l.split_once("listening: heard ").map(|(_, h)| h.to_owned()))
            .collect()
    }

    /// What the recogniser logged of the last stretches of speech.
    fn recogniser_log(&self) -> String {
        let log = self.daemon.log();
        let lines: Vec<&str> = log.lines().filter(|l| l.contains("listen")).collect();
        lines[lines.len().saturating_sub(12)..].join("\n")
    }

    /// Plays `said` into the microphone, once the daemon is quiet.
    fn play(&self, said: &Said) {
        self.wait_for_quiet();
        let n = ALL.iter().position(|s| std::ptr::eq(*s, said)).unwrap();
        let status = self
            .home
            .command_as("paplay", &["-d", "test_mic"])
            .arg(&self.files[n])
            .status()
            .expect("paplay (Debian package pulseaudio-utils)");
        assert!(status.success(), "paplay failed");
    }

    /// Says `said` and waits until the daemon heard it and `done` holds of
    /// the status; said a second time if it was not heard at all.
    fn say(&self, said: &Said, done: impl Fn(&Value) -> bool) -> Value {
        let before = self.heard().len();
        for attempt in 1..=2 {
            self.play(said);
            let ended = Instant::now();
            while Instant::now() < ended + HEARD_WITHIN && self.heard().len() == before {
                std::thread::sleep(Duration::from_millis(50));
            }
            let heard = self.heard();
            if heard.len() == before {
                assert!(
                    attempt == 1,
                    "{} was not heard, said twice; the recogniser's log:\n{}",
                    said.describe(),
                    self.recogniser_log()
                );
                eprintln!(
                    "NOTE: {} was not heard; saying it once more. The recogniser's log:\n{}",
                    said.describe(),
                    self.recogniser_log()
                );
                continue;
            }
            let new = &heard[before..];
            assert!(
                new.len() == 1 && new[0].starts_with(&format!("{}:", said.heard)),
                "{} was heard as {new:?}, not {}; the recogniser's log:\n{}",
                said.describe(),
                said.heard,
                self.recogniser_log()
            );
            break;
        }
        wait_for(
            &format!("the daemon to act on \"{}\"", said.text),
            PATIENCE,
            || {
                let status = self.home.status();
                done(&status).then_some(status)
            },
        )
    }
}

fn ms(status: &Value, key: &str) -> u64 {
    status[key]
        .as_u64()
        .unwrap_or_else(|| panic!("no {key} in {status}"))
}

#[test]
fn a_session_is_run_by_voice_alone() {
    let kokoro = match kokoro() {
        Ok(dir) => dir,
        Err(why) => {
            eprintln!(
                "SKIPPED: the Kokoro engine, which says the commands, is not installed ({why}); \
                 scripts/install-voice installs it"
            );
            return;
        }
    };
    let files = generate(&kokoro, &ALL);
    let home = Home::new().patience(PATIENCE).private_sound_server();
    home.config("[listen]\nsource = \"test_mic.monitor\"\n");
    let routine = home.routine("hands-free.toml", ROUTINE);
    // what the recogniser made of each stretch of speech is in the log
    let mut command = home.command(&["daemon"]);
    command.env("RUST_LOG", "info,massage_cue::listen=debug");
    let daemon = home.daemon_with(command);
    let room = Room {
        home: &home,
        daemon: &daemon,
        quiet: watch_cues(&home),
        files,
    };
    let mut start = start_request(&routine);
    start["options"] = serde_json::json!({"listen": true});
    home.ok(start);
    let mut last = Value::Null;
    let listening = Instant::now() + PATIENCE;
    while !(last["listening"]
        .as_str()
        .is_some_and(|l| l.starts_with("listening on test_mic.monitor"))
        && last["step"] == 0)
    {
        assert!(
            Instant::now() < listening,
            "the session does not listen on test_mic: {last}\n{}",
            daemon.log_tail()
        );
        std::thread::sleep(Duration::from_millis(100));
        last = home.status();
    }

    room.say(&PAUSE, |s| s["state"] == "paused");
    room.say(&CONTINUE, |s| s["state"] == "running");
    let moved = room.say(&NEXT, |s| s["step"] == 1);
    assert_eq!(moved["state"], "running");

    // well into the step, "again" starts it over
    wait_until("6 s into the step", PATIENCE, || {
        ms(&home.status(), "step_elapsed_ms") >= 6_000
    });
    let again = room.say(&AGAIN, |s| ms(s, "step_elapsed_ms") < 5_000);
    assert_eq!(again["step"], 1, "{again}");

    room.wait_for_quiet();
    let before = home.status();
    let after = room.say(&MORE, |s| {
        ms(s, "remaining_ms") > ms(&before, "remaining_ms") + 50_000
    });
    assert_eq!(after["step"], 1, "{after}");

    // the client's "stop" only pauses: the session is still there, and
    // goes on when told to
    room.say(&BARE_STOP, |s| s["state"] == "paused");
    room.wait_for_quiet();
    let paused = home.status();
    assert_eq!(paused["state"], "paused", "{paused}");
    assert_eq!(paused["step"], 1, "{paused}");
    room.say(&CONTINUE_2, |s| s["state"] == "running");

    // "massage stop" pauses and asks; a second "stop" ends the session
    room.say(&STOP, |s| s["state"] == "paused");
    let ended = room.say(&STOP_AGAIN, |s| s["state"] == "idle");
    assert!(ended["routine"].is_null(), "{ended}");
    let log = daemon.log();
    assert!(log.contains("BareStop: StopConfirmed"), "{log}");
}
