//! The natural voice on the real path: the Kokoro engine installed by
//! `scripts/install-voice` renders a user routine's own step name through
//! the real binary (`check` counts it as new, `prepare` renders it, `check`
//! then finds it ready), and the library then speaks it from the cache in
//! that voice.
//!
//! `scripts/test` installs the engine first; the install is found at
//! `$MC_TEST_KOKORO`, else in the data folder of the user running the
//! tests. Where it cannot be had (no network to the registries on a first
//! run) the test says so and passes without it.

use std::path::PathBuf;

use crate::daemon::Home;
use massage_cue::clip::SESSION_RATE;
use massage_cue::voice::{Natural, Source, Voice, VoiceSettings};

const ROUTINE: &str = r#"name = "Calf work"
[[step]]
name = "Petrissage of the calf and hamstrings"
reps = "2"
tempo = "2s"
"#;

/// The installed engine, or why the test cannot run it.
fn installed() -> Result<Natural, String> {
    match std::env::var_os("MC_TEST_KOKORO").filter(|v| !v.is_empty()) {
        Some(dir) => Natural::in_dir(&PathBuf::from(dir)),
        None => Natural::locate(),
    }
}

#[test]
fn prepare_renders_a_routines_own_phrase_in_the_natural_voice() {
    let natural = match installed() {
        Ok(natural) => natural,
        Err(why) => {
            eprintln!(
                "SKIPPED: the natural voice is not installed ({why}); scripts/install-voice installs it"
            );
            return;
        }
    };
    let home = Home::new();
    let file = home.path().join("calf.toml");
    std::fs::write(&file, ROUTINE).unwrap();
    let file_arg = file.to_str().unwrap();
    let with_voice = |args: &[&str]| {
        home.command(args)
            .env("MASSAGE_CUE_KOKORO", &natural.dir)
            .output()
            .unwrap()
    };

    let out = with_voice(&["check", file_arg]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let before = text
        .lines()
        .find(|l| l.contains("new to the natural voice"))
        .unwrap_or_else(|| panic!("check does not count the new phrases: {text}"));

    let out = with_voice(&["prepare", file_arg]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains("new phrases rendered in the natural voice"),
        "{stdout}"
    );
    // progress was shown (stderr is no terminal here: a line a tenth)
    assert!(stderr.contains("rendered 1 of "), "{stderr}");

    let out = with_voice(&["check", file_arg]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !text.contains("new to the natural voice") && text.contains(": ok"),
        "before: {before}; after: {text}"
    );

    // the library finds the step name in the natural voice's cache, and it
    // is speech of a plausible length, at the session's rate
    let voice = Voice::new(VoiceSettings {
        sounds_dir: None,
        cache_dir: Some(home.path().join("cache/massage-cue/speech")),
        command: Vec::new(),
        timeout: std::time::Duration::from_secs(10),
        rate: SESSION_RATE,
        natural: Ok((natural, 1.0)),
    });
    let said = voice.resolve("Petrissage of the calf and hamstrings.");
    assert_eq!(said.source, Source::Natural);
    let ms = said.clip.duration_ms();
    assert!((1200..6000).contains(&ms), "{ms} ms");
    assert!(said.clip.peak() > 0.1, "peak {}", said.clip.peak());
    assert!(
        voice.describe().starts_with("Kokoro af_heart"),
        "{}",
        voice.describe()
    );
}
