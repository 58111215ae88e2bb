//! Tests of phrase resolution. Each source is proven by setting up the
//! others so that they cannot answer; fake engines are small shell scripts
//! that record how they were called.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Instant;

use super::*;

/// A tone WAV of `ms` milliseconds at the session rate.
fn write_wav(path: &Path, ms: u64, freq: f32) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: SESSION_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for s in Clip::tone(freq, ms, SESSION_RATE).samples.iter() {
        w.write_sample((s * 20_000.0) as i16).unwrap();
    }
    w.finalize().unwrap();
}

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let f = Fixture {
            dir: tempfile::tempdir().unwrap(),
        };
        fs::create_dir_all(f.sounds().join("voice/clips")).unwrap();
        fs::write(f.sounds().join(INDEX_FILE), "").unwrap();
        // what a working fake engine copies to its output
        write_wav(&f.path("engine-output.wav"), 700, 330.0);
        f
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn sounds(&self) -> PathBuf {
        self.path("sounds")
    }

    fn cache(&self) -> PathBuf {
        self.path("cache")
    }

    /// Adds a pack phrase with a clip of `ms` milliseconds; `None` writes
    /// a damaged file instead.
    fn pack_phrase(&self, key: &str, ms: Option<u64>) {
        let n = fs::read_dir(self.sounds().join("voice/clips"))
            .unwrap()
            .count();
        let rel = format!("voice/clips/{n}.wav");
        let file = self.sounds().join(&rel);
        let indexed_ms = match ms {
            Some(ms) => {
                write_wav(&file, ms, 440.0);
                ms
            }
            None => {
                fs::write(&file, b"OggS but then nothing a decoder could use").unwrap();
                500
            }
        };
        let length = indexed_ms * u64::from(SESSION_RATE) / 1000;
        let mut index = fs::read_to_string(self.sounds().join(INDEX_FILE)).unwrap();
        index.push_str(&format!(
            "speech\t{key}\t{rel}\t0\t{length}\t{indexed_ms}\th\n"
        ));
        fs::write(self.sounds().join(INDEX_FILE), index).unwrap();
    }

    /// Writes an executable shell script; `@DIR@` stands for the fixture's
    /// folder.
    fn script(&self, name: &str, body: &str) -> String {
        let path = self.path(name);
        let body = body.replace("@DIR@", &self.dir.path().to_string_lossy());
        fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        path.to_string_lossy().into_owned()
    }

    /// An engine that records its arguments (NUL-separated) and counts its
    /// calls, then writes a good WAV.
    fn good_engine(&self) -> Vec<String> {
        let script = self.script(
            "good-engine",
            r#"for a in "$@"; do printf '%s\0' "$a"; done > "@DIR@/argv.bin"
echo call >> "@DIR@/calls.txt"
cp "@DIR@/engine-output.wav" "$1""#,
        );
        vec![script, "{out}".into(), "{text}".into()]
    }

    /// An engine that must not be run: it leaves a mark when it is.
    fn forbidden_engine(&self) -> Vec<String> {
        let script = self.script(
            "forbidden-engine",
            r#"touch "@DIR@/engine-was-run"
cp "@DIR@/engine-output.wav" "$1""#,
        );
        vec![script, "{out}".into(), "{text}".into()]
    }

    fn voice(&self, command: Vec<String>, timeout: Duration) -> Voice {
        Voice::new(VoiceSettings {
            sounds_dir: Some(self.sounds()),
            cache_dir: Some(self.cache()),
            command,
            timeout,
            rate: SESSION_RATE,
            natural: Err("not used here".into()),
        })
    }

    fn calls(&self) -> usize {
        fs::read_to_string(self.path("calls.txt"))
            .map(|s| s.lines().count())
            .unwrap_or(0)
    }

    fn argv(&self) -> Vec<String> {
        let raw = fs::read(self.path("argv.bin")).unwrap();
        raw.split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8(a.to_vec()).unwrap())
            .collect()
    }
}

const SECOND: Duration = Duration::from_secs(1);

#[test]
fn phrase_keys_collapse_whitespace_only() {
    assert_eq!(phrase_key("  Round\t2  of\n3. "), "Round 2 of 3.");
    assert_eq!(phrase_key("Press."), "Press.");
    assert_ne!(phrase_key("press"), phrase_key("Press."));
    assert_eq!(phrase_key(" \t "), "");
}

#[test]
fn a_pack_phrase_comes_from_the_pack() {
    let f = Fixture::new();
    f.pack_phrase("Press.", Some(400));
    let voice = f.voice(f.forbidden_engine(), SECOND);
    let got = voice.resolve("  Press. ");
    assert_eq!(got.source, Source::Pack);
    assert_eq!(got.clip.rate, SESSION_RATE);
    assert_eq!(got.clip.duration_ms(), 400);
    assert!(!f.path("engine-was-run").exists());
    assert!(!f.cache().exists(), "nothing was cached");
}

#[test]
fn a_cached_phrase_comes_from_the_cache() {
    let f = Fixture::new();
    let command = f.forbidden_engine();
    let engine = TtsEngine::new(command.clone(), f.cache(), SECOND);
    fs::create_dir_all(f.cache()).unwrap();
    write_wav(&engine.cache_path("Knead the calf."), 900, 220.0);
    let voice = f.voice(command, SECOND);
    let got = voice.resolve("Knead the calf.");
    assert_eq!(got.source, Source::Cache);
    assert!(
        (850..=950).contains(&got.clip.duration_ms()),
        "{}",
        got.clip.duration_ms()
    );
    assert!(!f.path("engine-was-run").exists());
}

#[test]
fn a_new_phrase_is_rendered_then_cached() {
    let f = Fixture::new();
    let command = f.good_engine();
    let voice = f.voice(command.clone(), SECOND);
    let got = voice.resolve("Knead the calf.");
    assert_eq!(got.source, Source::Engine);
    assert_eq!(got.clip.rate, SESSION_RATE);
    // the fake engine's 700 ms tone, trimmed by at most its faded edges
    let ms = got.clip.duration_ms();
    assert!((650..=720).contains(&ms), "{ms} ms");
    assert_eq!(f.calls(), 1);
    // remembered: asking again does not run the engine
    voice.resolve("Knead the calf.");
    assert_eq!(f.calls(), 1);

    // stored under its hash, with no temporary files left beside it
    let engine = TtsEngine::new(command.clone(), f.cache(), SECOND);
    assert!(engine.cache_path("Knead the calf.").is_file());
    let names: Vec<_> = fs::read_dir(f.cache())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");

    // a new voice finds it in the cache
    let again = f.voice(command, SECOND);
    assert_eq!(again.resolve("Knead the calf.").source, Source::Cache);
    assert_eq!(f.calls(), 1);
}

#[test]
fn a_numbered_phrase_is_joined_from_the_pack_before_the_command_is_tried() {
    let f = Fixture::new();
    for (key, ms) in [("Session", 500), ("31", 400), ("of", 200), ("40", 400)] {
        f.pack_phrase(key, Some(ms));
    }
    let voice = f.voice(f.forbidden_engine(), SECOND);
    assert_eq!(voice.resolve("Session 31 of 40.").source, Source::Composed);
    assert!(!f.path("engine-was-run").exists());
    // a phrase without a number still goes to the command first
    voice.resolve("Session of.");
    assert!(f.path("engine-was-run").exists());
}

#[test]
fn a_phrase_of_known_words_is_composed() {
    let f = Fixture::new();
    for (key, ms) in [
        ("Resuming.", 600),
        ("Deep stroking.", 800),
        ("7", 300),
        ("of", 200),
        ("15", 400),
    ] {
        f.pack_phrase(key, Some(ms));
    }
    let voice = f.voice(
        vec!["massage-cue-no-such-engine".into(), "{text}".into()],
        SECOND,
    );
    let got = voice.resolve("Resuming: deep stroking, 7 of 15.");
    assert_eq!(got.source, Source::Composed);
    let expected = 600 + 800 + 300 + 200 + 400 + 2 * PAUSE_GAP_MS + 2 * WORD_GAP_MS;
    assert!(
        got.clip.duration_ms().abs_diff(expected) <= 2,
        "{} vs {expected}",
        got.clip.duration_ms()
    );
}

#[test]
fn with_nothing_else_a_tone_stands_in() {
    let f = Fixture::new();
    f.pack_phrase("of", Some(200));
    let voice = f.voice(Vec::new(), SECOND);
    let got = voice.resolve("Knead the calf.");
    assert_eq!(got.source, Source::Tone);
    assert!(got.clip.peak() > 0.05, "never silence");
    assert!(got.clip.duration_ms() >= 300);
    assert_eq!(voice.resolve("   ").source, Source::Tone);
}

#[test]
fn a_missing_pack_leaves_the_other_sources() {
    let f = Fixture::new();
    let voice = Voice::new(VoiceSettings {
        sounds_dir: Some(f.path("no-such-sounds")),
        cache_dir: Some(f.cache()),
        command: f.good_engine(),
        timeout: SECOND,
        rate: SESSION_RATE,
        natural: Err("not used here".into()),
    });
    assert!(voice.pack().is_empty());
    assert_eq!(voice.resolve("Press.").source, Source::Engine);
    // the stand-in sounds are audible and of the right size
    assert!((20..=60).contains(&voice.sound_ms(Sound::Tick)));
    assert!((1500..=2000).contains(&voice.sound_ms(Sound::Chime)));
}

#[test]
fn a_failing_engine_falls_back() {
    let f = Fixture::new();
    f.pack_phrase("calf", Some(300));
    let script = f.script("failing-engine", "echo 'voice not found' >&2\nexit 1");
    let voice = f.voice(vec![script, "{out}".into(), "{text}".into()], SECOND);
    assert_eq!(voice.resolve("Calf.").source, Source::Composed);
    assert_eq!(voice.resolve("Knead the calf.").source, Source::Tone);
    assert!(!f.cache().exists() || fs::read_dir(f.cache()).unwrap().count() == 0);
}

#[test]
fn the_error_of_a_failing_engine_says_what_it_printed() {
    let f = Fixture::new();
    let script = f.script("failing-engine", "echo 'voice xx not found' >&2\nexit 3");
    let engine = TtsEngine::new(
        vec![script, "{out}".into(), "{text}".into()],
        f.cache(),
        SECOND,
    );
    let err = engine.render("Press.").unwrap_err().to_string();
    assert!(err.contains("voice xx not found"), "{err}");
    assert!(err.contains("exit status: 3"), "{err}");
}

#[test]
fn a_hanging_engine_is_stopped_at_the_timeout() {
    let f = Fixture::new();
    let script = f.script(
        "hanging-engine",
        "sleep 30 &\necho $! > \"@DIR@/helper.pid\"\nwait",
    );
    let voice = f.voice(vec![script, "{out}".into(), "{text}".into()], SECOND);
    let started = Instant::now();
    let got = voice.resolve("Knead the calf.");
    let took = started.elapsed();
    assert_eq!(got.source, Source::Tone);
    assert!(took >= SECOND, "gave up too early: {took:?}");
    assert!(
        took < Duration::from_secs(4),
        "timeout did not fire: {took:?}"
    );
    // the engine's helper process was killed with it
    let pid = fs::read_to_string(f.path("helper.pid")).unwrap();
    let stat = format!("/proc/{}/stat", pid.trim());
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let alive = fs::read_to_string(&stat)
            .map(|s| !s.contains(") Z "))
            .unwrap_or(false);
        if !alive {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the engine's helper {} still runs",
            pid.trim()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn an_engine_writing_garbage_falls_back() {
    let f = Fixture::new();
    f.pack_phrase("Press.", Some(400));
    let script = f.script("garbage-engine", "echo 'this is not a wav' > \"$1\"");
    let voice = f.voice(
        vec![script.clone(), "{out}".into(), "{text}".into()],
        SECOND,
    );
    assert_eq!(voice.resolve("Press now.").source, Source::Tone);
    assert_eq!(voice.resolve("press").source, Source::Composed);
    // nothing bad was cached, and no temporary file was left
    assert_eq!(fs::read_dir(f.cache()).unwrap().count(), 0);

    // a silent WAV is no better than garbage
    let silent = f.path("silent.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 22_050,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&silent, spec).unwrap();
    for _ in 0..22_050 {
        w.write_sample(0i16).unwrap();
    }
    w.finalize().unwrap();
    let script = f.script("silent-engine", "cp \"@DIR@/silent.wav\" \"$1\"");
    let engine = TtsEngine::new(
        vec![script, "{out}".into(), "{text}".into()],
        f.cache(),
        SECOND,
    );
    let err = engine.render("Press.").unwrap_err().to_string();
    assert!(err.contains("silent"), "{err}");
}

#[test]
fn phrases_reach_the_engine_as_one_literal_argument() {
    let f = Fixture::new();
    let dir = f.dir.path().to_string_lossy().into_owned();
    let texts = [
        format!("Say \"hi\" and 'bye' $(touch {dir}/pwned-1)"),
        format!("Rest; rm -rf {dir}/sounds; touch {dir}/pwned-2"),
        format!("Press `touch {dir}/pwned-3` now"),
        format!("A | touch {dir}/pwned-4 && echo > {dir}/pwned-5 $HOME *"),
        "Ünïcødé massage, 按摩 背部.".to_string(),
        "{out} {text} %s \\n".to_string(),
    ];
    for text in &texts {
        let voice = f.voice(f.good_engine(), SECOND);
        assert_eq!(voice.resolve(text).source, Source::Engine, "{text}");
        let argv = f.argv();
        assert_eq!(argv.len(), 2, "{argv:?}");
        assert_eq!(&argv[1], text);
        assert!(
            argv[0].starts_with(&*f.cache().to_string_lossy()),
            "{argv:?}"
        );
    }
    for n in 1..=5 {
        assert!(!f.path(&format!("pwned-{n}")).exists(), "pwned-{n}");
    }
    assert!(f.sounds().join(INDEX_FILE).exists(), "nothing was removed");

    // a phrase that looks like an option cannot be taken for one
    let voice = f.voice(f.good_engine(), SECOND);
    voice.resolve("-w /tmp/elsewhere.wav");
    let argv = f.argv();
    assert_eq!(argv[1], " -w /tmp/elsewhere.wav");
}

#[test]
fn an_engine_reading_standard_input_gets_the_phrase_there() {
    let f = Fixture::new();
    let script = f.script(
        "stdin-engine",
        "cat > \"@DIR@/stdin.txt\"\ncp \"@DIR@/engine-output.wav\" \"$2\"",
    );
    let voice = f.voice(vec![script, "-f".into(), "{out}".into()], SECOND);
    let text = "Knead $(touch x) 按摩";
    assert_eq!(voice.resolve(text).source, Source::Engine);
    assert_eq!(
        fs::read_to_string(f.path("stdin.txt")).unwrap(),
        format!("{text}\n")
    );
}

#[test]
fn a_damaged_pack_clip_is_passed_over() {
    let f = Fixture::new();
    f.pack_phrase("Press.", None);
    let voice = f.voice(f.good_engine(), SECOND);
    assert_eq!(voice.resolve("Press.").source, Source::Engine);

    // a file shorter than the index says is damaged too
    let f = Fixture::new();
    f.pack_phrase("Release.", Some(500));
    let index = fs::read_to_string(f.sounds().join(INDEX_FILE)).unwrap();
    fs::write(
        f.sounds().join(INDEX_FILE),
        index.replace("\t11025\t500\t", "\t33075\t1500\t"),
    )
    .unwrap();
    let voice = f.voice(Vec::new(), SECOND);
    assert_eq!(voice.resolve("Release.").source, Source::Tone);
}

#[test]
fn a_damaged_cache_file_is_deleted_and_rendered_again() {
    let f = Fixture::new();
    let command = f.good_engine();
    let engine = TtsEngine::new(command.clone(), f.cache(), SECOND);
    let cached = engine.cache_path("Knead the calf.");
    fs::create_dir_all(f.cache()).unwrap();
    fs::write(&cached, b"RIFF\0\0\0\0WAVEjunk").unwrap();
    let voice = f.voice(command, SECOND);
    assert_eq!(voice.resolve("Knead the calf.").source, Source::Engine);
    assert_eq!(f.calls(), 1);
    // the cache now holds a good rendering
    assert!(Clip::decode_file(&cached).is_ok());
}

#[test]
fn a_missing_engine_is_tried_once() {
    let f = Fixture::new();
    let voice = f.voice(
        vec![
            "massage-cue-no-such-engine".into(),
            "{out}".into(),
            "{text}".into(),
        ],
        SECOND,
    );
    assert_eq!(voice.resolve("One.").source, Source::Tone);
    assert!(voice.engine_off.load(Ordering::Relaxed));
}

#[test]
fn an_engine_that_keeps_failing_is_given_up() {
    let f = Fixture::new();
    let script = f.script("failing-engine", "echo call >> \"@DIR@/calls.txt\"\nexit 1");
    let voice = f.voice(vec![script, "{out}".into(), "{text}".into()], SECOND);
    for n in 0..6 {
        voice.resolve(&format!("Phrase {n}."));
    }
    assert_eq!(f.calls(), MAX_ENGINE_FAILURES);
}

#[test]
fn prepare_renders_in_parallel_and_remembers() {
    let f = Fixture::new();
    f.pack_phrase("Press.", Some(400));
    let script = f.script(
        "slow-engine",
        r#"echo start >> "@DIR@/calls.txt"
sleep 0.4
echo end >> "@DIR@/calls.txt"
cp "@DIR@/engine-output.wav" "$1""#,
    );
    let voice = f.voice(
        vec![script, "{out}".into(), "{text}".into()],
        Duration::from_secs(5),
    );
    let phrases: Vec<String> = ["Press.", "One.", "Two.", "Three.", "Four.", " One. "]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let report = voice.prepare(&phrases);
    assert_eq!(
        report,
        PrepareReport {
            pack: 1,
            engine: 4,
            ..PrepareReport::default()
        }
    );
    let log = fs::read_to_string(f.path("calls.txt")).unwrap();
    assert_eq!(
        log.matches("start").count(),
        4,
        "once per new phrase: {log}"
    );
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    if cores > 1 {
        assert!(
            log.starts_with("start\nstart\n"),
            "renders overlapped: {log}"
        );
    }
    // everything is ready: lengths come without running anything
    let before = log.len();
    assert!(voice.speech_ms("Three.") > 0);
    assert_eq!(voice.speech_ms("Press."), 400);
    assert_eq!(
        fs::read_to_string(f.path("calls.txt")).unwrap().len(),
        before
    );
    // forgotten clips come back from the pack and the cache, not the engine
    voice.forget();
    assert!(format!("{voice:?}").contains("phrases: 0"));
    assert_eq!(voice.resolve("Three.").source, Source::Cache);
    assert_eq!(voice.resolve("Press.").source, Source::Pack);
    assert_eq!(
        fs::read_to_string(f.path("calls.txt")).unwrap().len(),
        before
    );
}

#[test]
fn clip_lengths_are_the_real_clips() {
    let f = Fixture::new();
    f.pack_phrase("Press.", Some(432));
    let voice = f.voice(Vec::new(), SECOND);
    assert_eq!(voice.speech_ms("Press."), 432);
    assert_eq!(
        voice.speech_ms("Press."),
        voice.clip("Press.").duration_ms()
    );
    let tone = voice.speech_ms("Not in the pack.");
    assert_eq!(tone, Clip::stand_in_tone(SESSION_RATE).duration_ms());
    // printing a voice does not print its audio
    let shown = format!("{voice:?}");
    assert!(shown.len() < 400 && shown.contains("phrases: 2"), "{shown}");
}

#[test]
fn the_sounds_folder_is_the_first_data_folder_holding_a_voice_index() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    let make = |p: &Path| {
        fs::create_dir_all(p.join("voice")).unwrap();
        fs::write(p.join(INDEX_FILE), "").unwrap();
    };
    let list = format!(
        "{}:{}",
        root.join("local").display(),
        root.join("usr").display()
    );
    let env = crate::paths::Environment {
        xdg_data_home: Some(root.join("home").into()),
        xdg_data_dirs: Some(list.into()),
        exe: Some(root.join("repo/target/release/massage-cue")),
        ..crate::paths::env_in(root)
    };
    let paths = || Paths::resolve(&env).unwrap();

    // nothing anywhere
    assert_eq!(locate_sounds(&paths()), None);
    // the system folder
    make(&root.join("usr/massage-cue/sounds"));
    assert_eq!(
        locate_sounds(&paths()),
        Some(root.join("usr/massage-cue/sounds"))
    );
    // a sounds folder with no voice index is passed over
    fs::create_dir_all(root.join("local/massage-cue/sounds")).unwrap();
    assert_eq!(
        locate_sounds(&paths()),
        Some(root.join("usr/massage-cue/sounds"))
    );
    // the user's data folder beats it
    make(&root.join("home/massage-cue/sounds"));
    assert_eq!(
        locate_sounds(&paths()),
        Some(root.join("home/massage-cue/sounds"))
    );
    // a source tree around the program beats that
    make(&root.join("repo/sounds"));
    fs::create_dir_all(root.join("repo/routines")).unwrap();
    assert_eq!(locate_sounds(&paths()), Some(root.join("repo/sounds")));
    // and the variable beats everything, even when it names nothing useful
    let mut with_var = paths();
    with_var.sounds_var = Some(root.join("elsewhere"));
    assert_eq!(locate_sounds(&with_var), Some(root.join("elsewhere")));
}

/// The bundled pack, as committed: every listed file decodes to the length
/// the index gives, the stock phrases are there, and the tick and the chime
/// have the sizes the planner expects.
#[test]
fn the_bundled_pack_is_complete_and_consistent() {
    let sounds = Path::new(env!("CARGO_MANIFEST_DIR")).join("sounds");
    let pack = Pack::open(&sounds).expect("the voice pack is committed in sounds/");
    for phrase in [
        "1",
        "15",
        "200",
        "Last one.",
        "Press.",
        "Release.",
        "Halfway.",
        "30 seconds left.",
        "10 seconds left.",
        "1 minute left.",
        "Left side.",
        "Right side.",
        "Switch to the left side.",
        "Switch to the right side.",
        "Round 2 of 3.",
        "Round 10 of 10.",
        "Session 1 of 1.",
        "Session 4 of 15.",
        "Session 30 of 30.",
        "About 1 minute.",
        "About 25 minutes.",
        "About 120 minutes.",
        "Session complete.",
        "Resuming:",
        "Paused.",
        "Move on.",
        "of",
        "times",
        "minutes",
        "seconds",
        "3.",
        "2.",
        "1.",
    ] {
        assert!(
            pack.entry(phrase).is_some(),
            "{phrase:?} is not in the pack"
        );
    }
    // every clip lies inside its file, whose length the Ogg stream's last
    // page gives without decoding it
    let mut ends: HashMap<PathBuf, usize> = HashMap::new();
    for key in pack.keys() {
        let e = pack.entry(key).unwrap();
        let end = ends.entry(e.file.clone()).or_default();
        *end = (*end).max(e.start + e.length);
        assert_eq!(
            e.duration_ms,
            (e.length as u64 * 1000).div_ceil(22_050),
            "{key}"
        );
    }
    assert!(
        ends.len() < 200,
        "phrases share bank files: {} files",
        ends.len()
    );
    // every file has its checksum, and it matches
    for file in ends.keys() {
        let sum = pack
            .checksum(file)
            .unwrap_or_else(|| panic!("{} has no checksum", file.display()));
        let bytes = fs::read(sounds.join(file)).unwrap();
        assert_eq!(
            &<sha2::Sha256 as sha2::Digest>::digest(&bytes)[..],
            &sum[..],
            "{}",
            file.display()
        );
    }
    for sound in [Sound::Tick, Sound::Chime] {
        let file = &pack.sound_entry(sound).unwrap().file;
        assert!(pack.checksum(file).is_some(), "{}", file.display());
    }
    for (file, end) in &ends {
        use rodio::Source;
        let decoder = rodio::Decoder::try_from(fs::File::open(sounds.join(file)).unwrap()).unwrap();
        assert_eq!(
            decoder.sample_rate().get(),
            SESSION_RATE,
            "{}",
            file.display()
        );
        let total = decoder.total_duration().unwrap();
        let samples = (total.as_nanos() * 22_050 + 500_000_000) / 1_000_000_000;
        assert!(
            *end as u128 <= samples,
            "{}: {end} > {samples}",
            file.display()
        );
    }

    let voice = Voice::from_parts(pack.clone(), None, SESSION_RATE);
    // decode a spread of clips (a dozen banks), in file order so each bank
    // is decoded once
    // (decoding all of them takes long in a debug build)
    let mut keys: Vec<&str> = pack.keys().collect();
    keys.sort_by_key(|k| {
        let e = pack.entry(k).unwrap();
        (e.file.clone(), e.start)
    });
    for key in keys
        .iter()
        .step_by(150)
        .chain(["Press.", "200", "Session 30 of 30."].iter())
    {
        let got = voice.resolve(key);
        assert_eq!(got.source, Source::Pack, "{key}");
        let indexed = pack.entry(key).unwrap().duration_ms;
        assert!(
            got.clip.duration_ms().abs_diff(indexed) <= 1,
            "{key}: {} vs {indexed}",
            got.clip.duration_ms()
        );
        let ms = got.clip.duration_ms();
        assert!((150..=30_000).contains(&ms), "{key}: {ms} ms");
        let peak = got.clip.peak();
        assert!((0.1..=0.9).contains(&peak), "{key}: peak {peak}");
    }
    // counts up to 40 fit the quickest bundled tempo (1 s); every count
    // fits a 2-second tempo
    for n in 1..=200 {
        let ms = pack.entry(&n.to_string()).unwrap().duration_ms;
        let limit = if n <= 40 { 1000 } else { 2000 };
        assert!(ms < limit, "{n}: {ms} ms");
    }
    let tick = voice.sound_ms(Sound::Tick);
    assert!((20..=60).contains(&tick), "tick {tick} ms");
    let chime = voice.sound_ms(Sound::Chime);
    assert!((1500..=2000).contains(&chime), "chime {chime} ms");
    assert!(voice.sound(Sound::Chime).peak() < 0.5, "a soft chime");
}

/// The real engine path: espeak-ng renders into the cache and the clip
/// decodes with a plausible length.
#[test]
fn espeak_ng_renders_into_the_cache() {
    if !on_path("espeak-ng") {
        eprintln!("SKIPPED: espeak-ng is not installed (scripts/test installs it)");
        return;
    }
    let cache = tempfile::tempdir().unwrap();
    // the command of the default configuration
    let command = crate::config::Config::default().voice.command;
    assert_eq!(command[0], "espeak-ng");
    let voice = Voice::from_parts(
        Pack::empty(),
        Some(TtsEngine::new(
            command.clone(),
            cache.path().to_owned(),
            Duration::from_secs(10),
        )),
        SESSION_RATE,
    );
    let text = "Knead the calf muscles gently, from the ankle up.";
    let got = voice.resolve(text);
    assert_eq!(got.source, Source::Engine);
    let ms = got.clip.duration_ms();
    assert!((1_500..=8_000).contains(&ms), "{ms} ms");
    assert!(got.clip.peak() > 0.1);
    let cached = TtsEngine::new(command, cache.path().to_owned(), SECOND).cache_path(text);
    let raw = Clip::decode_file(&cached).unwrap();
    assert!(
        raw.duration_ms() >= ms,
        "the cache holds the untrimmed rendering"
    );
}
