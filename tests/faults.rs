//! Faults injected into the real daemon, each guarding a fix that the
//! fault-injection scripts (`scripts/fault/`) called for: a daemon killed
//! outright, the disk full or unwritable, a broken text-to-speech command,
//! damaged clips.

use std::fs;
use std::time::Duration;

use crate::common::sound_server::{Recorder, run_with_sound_server};
use crate::daemon::{BIN, Daemon, Home, wait_for, wait_until};
use massage_cue::history::{Entry, History};
use massage_cue::plan;
use massage_cue::state::SavedOptions;
use serde_json::Value;

/// How long anything here may take before a test fails.
const PATIENCE: Duration = Duration::from_secs(15);

/// A home whose daemons play no sound (their cues are text only).
fn home() -> Home {
    Home::new().patience(PATIENCE)
}

/// One timed step whose last seconds are counted down ("3.", "2.", "1.").
const TIMED: &str = r#"
name = "Timed"
[[step]]
name = "Rubbing"
time = "8s"
"#;

fn elapsed(status: &Value) -> u64 {
    status["elapsed_ms"]
        .as_u64()
        .unwrap_or_else(|| panic!("{status}"))
}

/// The plan offset of the cue saying `text`.
fn cue_at(home: &Home, routine: &std::path::Path, text: &str) -> u64 {
    let out = home.run(&["plan", routine.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{out:?}");
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    plan["cues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["text"] == text)
        .and_then(|c| c["at_ms"].as_u64())
        .unwrap_or_else(|| panic!("no cue {text:?} in {plan}"))
}

#[test]
fn a_daemon_killed_within_a_timed_step_comes_back_at_its_last_cue_not_its_start() {
    let home = home();
    let routine = home.routine("timed.toml", TIMED);
    let two = cue_at(&home, &routine, "2.");
    let mut daemon = home.daemon();
    home.start(&routine);
    // killed just after "2." began, well into the step
    wait_for("the session to reach \"2.\"", PATIENCE, || {
        (elapsed(&home.status()) >= two + 150).then_some(())
    });
    daemon.kill9();

    let _daemon = home.daemon();
    let back = home.status();
    assert_eq!(back["state"], "paused", "{back}");
    assert_eq!(back["step"], 0, "{back}");
    // within the cue under way, not back at the step's announcement
    assert!(
        elapsed(&back) >= two,
        "back at {} ms, \"2.\" is at {two} ms",
        elapsed(&back)
    );
    assert!(elapsed(&back) <= two + 1_000, "{back}");
}

#[test]
fn a_session_restored_after_a_crash_is_heard_when_resumed() {
    run_with_sound_server(
        "a_session_restored_after_a_crash_is_heard_when_resumed",
        || {
            let home = home().inherited_sound();
            let routine = home.routine("timed.toml", TIMED);
            let mut daemon = home.daemon();
            home.start(&routine);
            wait_until("1.5 s of the session", PATIENCE, || {
                elapsed(&home.status()) >= 1_500
            });
            daemon.kill9();

            let daemon = home.daemon();
            assert_eq!(home.status()["state"], "paused");
            let recorder = Recorder::start(&home.path().join("resumed.wav"));
            let resumed = home.simple("resume");
            assert_eq!(resumed["state"], "running", "{resumed}");
            std::thread::sleep(Duration::from_millis(3_000));
            let (samples, _) = recorder.stop();
            let peak = samples.iter().fold(0.0f32, |m, s| m.max(s.abs()));
            assert!(
                peak > 0.01,
                "nothing was heard after resuming a restored session (peak {peak}); the log:\n{}",
                daemon.log_tail()
            );
            let _ = fs::remove_file(home.path().join("resumed.wav"));
        },
    );
}

/// A small routine of counted repetitions, one every second.
const COUNTED: &str = r#"
name = "Counted"
[[step]]
name = "Stroking"
reps = 40
tempo = "1s"
"#;

/// Starts the daemon unable to write any file past `kib` KiB, as on a
/// full disk: a write that crosses the limit is cut short and fails (the
/// signal that would kill it is ignored).
fn limited_daemon(home: &Home, kib: u32) -> Daemon {
    let script = format!("trap '' XFSZ; ulimit -f {kib}; exec {BIN} daemon");
    home.daemon_with(home.command_as("sh", &["-c", &script]))
}

/// A routine whose path is longer than 1 KiB, so that a saved position
/// (which names it) does not fit in a 1 KiB file.
fn deep_routine(home: &Home) -> std::path::PathBuf {
    let mut dir = home.path().to_owned();
    for c in ['a', 'b', 'c', 'd', 'e'] {
        dir.push(c.to_string().repeat(240));
    }
    fs::create_dir_all(&dir).unwrap();
    let path = dir.join("counted.toml");
    fs::write(&path, COUNTED).unwrap();
    path
}

#[test]
fn a_position_that_cannot_be_saved_is_said_and_leaves_no_temporary_file_and_the_session_plays_on() {
    let home = home();
    let routine = deep_routine(&home);
    let mut daemon = limited_daemon(&home, 1);
    let started = home.start(&routine);
    assert_eq!(started["state"], "running", "{started}");
    let message = started["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("Cannot save the session's position"),
        "{started}"
    );
    let temp = home.state_dir().join("session.json.tmp");
    assert!(
        fs::symlink_metadata(&temp).is_err(),
        "a failed save left its temporary file"
    );
    // it plays on from memory, saying so, and still leaves nothing behind
    let later = wait_for("the session to move on", PATIENCE, || {
        let status = home.status();
        (elapsed(&status) > elapsed(&started) + 2_000).then_some(status)
    });
    assert_eq!(later["state"], "running", "{later}");
    assert!(
        later["message"]
            .as_str()
            .unwrap_or_default()
            .contains("Cannot save"),
        "{later}"
    );
    assert!(fs::symlink_metadata(&temp).is_err(), "{later}");
    // once the session is stopped there is no position left to keep
    let stopped = home.simple("stop");
    assert!(
        !stopped["message"]
            .as_str()
            .unwrap_or_default()
            .contains("Cannot save"),
        "{stopped}"
    );
    daemon.kill9();
}

#[test]
fn a_history_line_cut_short_by_a_full_disk_is_taken_back() {
    let home = home();
    let routine = home.routine("counted.toml", COUNTED);
    // a history just short of the largest file the daemon may write (8 KiB)
    fs::create_dir_all(home.state_dir()).unwrap();
    let path = home.state_dir().join("history.jsonl");
    let history = History::new(&path);
    let entry = Entry {
        routine: "Counted".into(),
        path: routine.clone(),
        options: SavedOptions::from(&plan::Options::default()),
        started_at_ms: 1_700_000_000_000,
        ended_at_ms: 1_700_000_060_000,
        steps_completed: 1,
        steps: 1,
        completed: true,
        note: None,
        heard_ms: None,
        work_ms: None,
    };
    while fs::metadata(&path).map_or(0, |m| m.len()) < 8_192 - 150 {
        history.append(&entry).unwrap();
    }
    let before = fs::read(&path).unwrap();
    let mut daemon = limited_daemon(&home, 8);
    home.start(&routine);
    let stopped = home.simple("stop");
    let message = stopped["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("Cannot write the session to the history"),
        "{stopped}"
    );
    assert_eq!(
        fs::read(&path).unwrap(),
        before,
        "the history is not as it was before the failed write"
    );
    let log = history.read().unwrap();
    assert!(log.warnings.is_empty(), "{:?}", log.warnings);
    daemon.kill9();
}

/// A small tmpfs mounted for one test; unmounted on drop. Mounting needs
/// root: `None` (and the test skips, saying why) elsewhere.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(at: &std::path::Path, size: &str) -> Option<Tmpfs> {
        if !rustix::process::geteuid().is_root() {
            eprintln!("skipped: mounting a small tmpfs (a disk to fill) needs root");
            return None;
        }
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            eprintln!("skipped: cannot mount a tmpfs here (a disk to fill)");
            return None;
        }
        Some(Tmpfs(at.to_owned()))
    }

    /// Fills it until only `room` bytes are left.
    fn fill(&self, room: u64) {
        let fs = rustix::fs::statvfs(&self.0).unwrap();
        let free = fs.f_bavail * fs.f_frsize;
        fs::write(self.0.join("filler"), vec![0u8; (free - room) as usize]).unwrap();
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_phrase_cut_short_by_a_full_disk_is_not_cached() {
    let dir = tempfile::tempdir().unwrap();
    let disk = dir.path().join("disk");
    fs::create_dir(&disk).unwrap();
    let Some(disk) = Tmpfs::mount(&disk, "512k") else {
        return;
    };
    // a whole phrase: 2 s of a tone, 88 KB, off the small disk
    let phrase = dir.path().join("phrase.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 22_050,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut wav = hound::WavWriter::create(&phrase, spec).unwrap();
    for i in 0..44_100 {
        let s = (i as f32 * 0.06).sin() * 12_000.0;
        wav.write_sample(s as i16).unwrap();
    }
    wav.finalize().unwrap();
    let cache = disk.0.join("speech");
    fs::create_dir(&cache).unwrap();
    disk.fill(16 * 1024);
    // an engine that, like espeak-ng on a full disk, writes what fits and
    // exits 0
    let engine = massage_cue::voice::TtsEngine::new(
        vec![
            "sh".into(),
            "-c".into(),
            "cp \"$0\" \"$1\" 2>/dev/null; exit 0".into(),
            phrase.to_str().unwrap().into(),
            "{out}".into(),
        ],
        cache.clone(),
        Duration::from_secs(10),
    );
    let rendered = engine.render("A phrase to say.");
    assert!(
        rendered.is_err(),
        "a phrase cut short was taken: {} ms of 2000",
        rendered.map(|c| c.duration_ms()).unwrap_or_default()
    );
    assert!(
        engine.cached("A phrase to say.").is_none(),
        "a phrase cut short was cached"
    );
    drop(disk);
}

#[test]
fn a_daemon_whose_log_cannot_be_written_plays_on() {
    let home = home();
    let routine = home.routine("counted.toml", COUNTED);
    // the log on a full disk: every line written to it fails
    let full = fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let mut daemon = home.daemon_logging_to(home.command(&["daemon"]), full.into());
    let started = home.start(&routine);
    assert_eq!(started["state"], "running", "{started}");
    wait_until("1.5 s of the session", PATIENCE, || {
        elapsed(&home.status()) >= 1_500
    });
    for request in ["pause", "resume", "next", "stop"] {
        let reply = home.ask(serde_json::json!({"version": 1, "request": request}));
        assert_eq!(reply["reply"], "ok", "{request} → {reply}");
    }
    assert!(
        daemon.child.try_wait().unwrap().is_none(),
        "the daemon exited"
    );
    daemon.kill9();
}

/// Writes 1 s of a tone as a 16-bit WAV file.
fn tone_wav(path: &std::path::Path) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 22_050,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut wav = hound::WavWriter::create(path, spec).unwrap();
    for i in 0..22_050 {
        wav.write_sample(((i as f32 * 0.06).sin() * 12_000.0) as i16)
            .unwrap();
    }
    wav.finalize().unwrap();
}

#[test]
fn a_speech_command_given_up_on_is_tried_again_by_the_next_session() {
    use massage_cue::voice::{Source, Voice, VoiceSettings};
    let dir = tempfile::tempdir().unwrap();
    let phrase = dir.path().join("phrase.wav");
    tone_wav(&phrase);
    let broken = dir.path().join("broken");
    fs::write(&broken, "").unwrap();
    // fails while `broken` exists, then writes a good WAV
    let command = vec![
        "sh".into(),
        "-c".into(),
        "[ -e \"$2\" ] && exit 3; cp \"$1\" \"$0\"".into(),
        "{out}".into(),
        phrase.to_str().unwrap().into(),
        broken.to_str().unwrap().into(),
    ];
    let voice = Voice::new(VoiceSettings {
        sounds_dir: None,
        cache_dir: Some(dir.path().join("cache")),
        command,
        timeout: Duration::from_secs(10),
        rate: 22_050,
        natural: Err("not used here".into()),
    });
    for n in 0..5 {
        assert_eq!(voice.resolve(&format!("Phrase {n}.")).source, Source::Tone);
    }
    // fixed before the next session, which starts by forgetting the last
    fs::remove_file(&broken).unwrap();
    voice.forget();
    assert_eq!(voice.resolve("Phrase 0.").source, Source::Engine);
}

#[test]
fn a_cached_clip_cut_short_is_rendered_again_whole() {
    use massage_cue::voice::TtsEngine;
    let dir = tempfile::tempdir().unwrap();
    let phrase = dir.path().join("phrase.wav");
    tone_wav(&phrase);
    // a streaming writer's header: no length given (all ones)
    let mut streamed = fs::read(&phrase).unwrap();
    let data = streamed.windows(4).position(|w| w == b"data").unwrap();
    streamed[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    streamed[data + 4..data + 8].copy_from_slice(&u32::MAX.to_le_bytes());
    let streamed_path = dir.path().join("streamed.wav");
    fs::write(&streamed_path, &streamed).unwrap();
    for source in [&phrase, &streamed_path] {
        let engine = TtsEngine::new(
            vec!["cp".into(), source.to_str().unwrap().into(), "{out}".into()],
            dir.path().join("cache"),
            Duration::from_secs(10),
        );
        let key = "Knead the calf.";
        let whole = engine.render(key).unwrap();
        assert_eq!(whole.duration_ms(), 1_000);
        // a rendering as cached is read back whole
        assert_eq!(engine.cached(key).unwrap().unwrap(), whole);
        // cut to half behind the daemon's back
        let cached = engine.cache_path(key);
        let len = fs::metadata(&cached).unwrap().len();
        fs::OpenOptions::new()
            .write(true)
            .open(&cached)
            .unwrap()
            .set_len(len / 2)
            .unwrap();
        match engine.cached(key) {
            Some(Err(err)) => assert!(err.to_string().contains("cut short"), "{err}"),
            other => panic!(
                "a clip cut short was read: {:?} ms",
                other.map(|r| r.map(|c| c.duration_ms()).ok())
            ),
        }
        assert!(
            !cached.exists(),
            "the damaged clip is left to be read again"
        );
        fs::remove_dir_all(dir.path().join("cache")).unwrap();
    }
}

#[test]
fn a_session_task_that_fails_ends_the_daemon_and_keeps_the_saved_session() {
    let home = home();
    let routine = home.routine("counted.toml", COUNTED);
    let mut command = home.command(&["daemon"]);
    // a debug build's switch: the task panics at `next`
    command.env("MASSAGE_CUE_FAULT", "panic-on-next");
    let mut daemon = home.daemon_with(command);
    home.start(&routine);
    wait_until("1.5 s of the session", PATIENCE, || {
        elapsed(&home.status()) >= 1_500
    });
    let reply = home.ask(serde_json::json!({"version": 1, "request": "next"}));
    assert_eq!(reply["reply"], "error", "{reply}");
    // the daemon ends instead of answering "shutting down" for good
    assert_eq!(daemon.wait(), Some(1), "{}", daemon.log_tail());
    assert!(
        daemon.log().contains("the session task failed"),
        "{}",
        daemon.log_tail()
    );
    assert!(home.state_dir().join("session.json").exists());
    assert!(!home.socket().exists(), "the socket was left behind");

    let _daemon = home.daemon();
    let back = home.status();
    assert_eq!(back["state"], "paused", "{back}");
    assert_eq!(back["routine"], "Counted", "{back}");
    assert!(elapsed(&back) >= 1_000, "{back}");
}

#[test]
fn options_from_the_wire_are_checked_like_fresh_ones() {
    let home = home();
    let routine = home.routine("timed.toml", TIMED);
    let mut daemon = home.daemon();
    let path = routine.to_str().unwrap();
    for (options, said) in [
        (serde_json::json!({"length_ms": u64::MAX}), "session length"),
        (serde_json::json!({"length_ms": 0}), "session length"),
        (serde_json::json!({"tempo": 1e300}), "tempo factor"),
    ] {
        let reply = home.ask(serde_json::json!({
            "version": 1, "request": "start", "routine": path, "options": options
        }));
        assert_eq!(reply["kind"], "bad_input", "{options} → {reply}");
        assert!(
            reply["message"].as_str().unwrap_or_default().contains(said),
            "{options} → {reply}"
        );
        assert_eq!(home.status()["state"], "idle");
    }
    assert!(daemon.alive(), "{}", daemon.log_tail());
}

#[test]
fn a_saved_session_with_values_out_of_bounds_is_refused_not_played() {
    let home = home();
    let routine = home.routine("timed.toml", TIMED);
    fs::create_dir_all(home.state_dir()).unwrap();
    let mut options = SavedOptions::from(&plan::Options::default());
    options.countdown = 4_000_000_000;
    let saved = massage_cue::state::SavedSession {
        format: massage_cue::state::FORMAT,
        routine: routine.clone(),
        options,
        offset_ms: 1_000,
        paused: false,
        started_at_ms: 1_700_000_000_000,
        routine_sha256: None,
        changes: Default::default(),
        heard: Vec::new(),
        ended_at_ms: None,
    };
    massage_cue::state::StateFile::new(home.state_dir().join("session.json"))
        .save(&saved)
        .unwrap();
    let mut daemon = home.daemon();
    let status = home.status();
    assert_ne!(status["state"], "running", "{status}");
    assert!(
        daemon
            .log()
            .contains("a countdown of 4000000000 is more than 10"),
        "{}",
        daemon.log_tail()
    );
    daemon.signal(rustix::process::Signal::TERM);
    assert_eq!(daemon.wait(), Some(0));
}

fn history_lines(home: &Home) -> Vec<Value> {
    fs::read_to_string(home.state_dir().join("history.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_daemon_killed_between_the_history_line_and_the_saved_position_does_not_bring_the_session_back()
{
    let home = home();
    let routine = home.routine("counted.toml", COUNTED);
    let mut daemon = home.daemon();
    home.start(&routine);
    wait_until("1.5 s of the session", PATIENCE, || {
        elapsed(&home.status()) >= 1_500
    });
    let saved = home.state_dir().join("session.json");
    let last_save = fs::read(&saved).unwrap();
    home.simple("stop");
    assert_eq!(history_lines(&home).len(), 1);
    daemon.kill9();
    // what a kill just after the history line, before the saved position
    // was removed, leaves behind
    fs::write(&saved, &last_save).unwrap();

    let _daemon = home.daemon();
    let status = home.status();
    assert_eq!(
        status["state"], "idle",
        "the stopped session came back: {status}"
    );
    assert!(!saved.exists(), "the ended session's position is left");
    let stop = home.ask(serde_json::json!({"version": 1, "request": "stop"}));
    assert_eq!(stop["kind"], "not_now", "{stop}");
    assert_eq!(
        history_lines(&home).len(),
        1,
        "the session was logged twice"
    );
}

#[test]
fn a_saved_session_whose_routine_changed_or_went_is_kept_said_and_logged_not_resumed() {
    let home = home();
    let routine = home.routine("counted.toml", COUNTED);
    for (n, change) in ["edited", "removed"].into_iter().enumerate() {
        fs::write(&routine, COUNTED).unwrap();
        let mut daemon = home.daemon();
        home.start(&routine);
        wait_until("1.5 s of the session", PATIENCE, || {
            elapsed(&home.status()) >= 1_500
        });
        daemon.kill9();
        let saved = home.state_dir().join("session.json");
        let save = fs::read(&saved).unwrap();
        if change == "edited" {
            fs::write(&routine, COUNTED.replace("Stroking", "Kneading")).unwrap();
        } else {
            fs::remove_file(&routine).unwrap();
        }

        let mut daemon = home.daemon();
        let status = home.status();
        assert_eq!(status["state"], "idle", "{change}: {status}");
        let message = status["message"].as_str().unwrap_or_default().to_owned();
        let why = if change == "edited" {
            "was changed since"
        } else {
            "cannot be read"
        };
        assert!(
            message.contains("cannot be resumed") && message.contains(why),
            "{change}: {status}"
        );
        let aside = home.state_dir().join("session.json.unresumable");
        assert!(message.contains(aside.to_str().unwrap()), "{status}");
        assert_eq!(
            fs::read(&aside).unwrap(),
            save,
            "the saved position is not kept"
        );
        assert!(!saved.exists());
        let log = history_lines(&home);
        assert_eq!(log.len(), n + 1, "{log:?}");
        assert_eq!(log[n]["completed"], false);
        assert!(
            log[n]["note"].as_str().unwrap_or_default().contains(why),
            "{log:?}"
        );
        daemon.kill9();
        // said once: the next start finds nothing to restore
        let _daemon = home.daemon();
        assert!(home.status()["message"].is_null());
        assert_eq!(history_lines(&home).len(), n + 1);
        drop(_daemon);
        fs::remove_file(&aside).unwrap();
    }
    let out = home.run(&["history"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("not resumed: its routine file"),
        "{out:?}"
    );
}

#[test]
fn a_state_folder_removed_mid_session_is_created_again_and_nothing_is_lost() {
    let home = home();
    let routine = home.routine("counted.toml", COUNTED);
    let _daemon = home.daemon();
    home.start(&routine);
    wait_until("1 s of the session", PATIENCE, || {
        elapsed(&home.status()) >= 1_000
    });
    fs::remove_dir_all(home.state_dir()).unwrap();
    // the next repetition's save puts it back
    wait_until("the saved position to be written again", PATIENCE, || {
        home.state_dir().join("session.json").exists()
    });
    let stopped = home.simple("stop");
    assert!(
        stopped["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Session stopped."),
        "{stopped}"
    );
    assert_eq!(
        history_lines(&home).len(),
        1,
        "the session is not in the history"
    );
    assert!(!home.state_dir().join("session.json").exists());
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(home.state_dir()).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700);
}
