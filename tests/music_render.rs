//! Music files of every supported kind, made here (a steady tone, written
//! by the project's own encoders and, for MP3, by `lame`), read by the
//! music player; and `massage-cue render --music` through the real binary,
//! in each output format.

use std::path::{Path, PathBuf};
use std::process::Command;

use massage_cue::audio::{Playlist, write_samples};

use crate::daemon::Home;

const RATE: u32 = 22_050;

/// A 210 Hz tone at `amplitude`, `seconds` long: 105 samples a period, so
/// that it loops without a seam.
fn tone(amplitude: f32, seconds: u32) -> Vec<f32> {
    (0..105 * 210 * seconds)
        .map(|i| amplitude * (std::f32::consts::TAU * i as f32 / 105.0).sin())
        .collect()
}

/// Writes the tone as `name` in `dir` (.wav, .flac, .ogg, or .mp3 through
/// `lame`, which `scripts/install-deps --test` installs).
pub fn music_file(dir: &Path, name: &str, amplitude: f32, seconds: u32) -> PathBuf {
    let path = dir.join(name);
    if let Some(stem) = name.strip_suffix(".mp3") {
        let wav = dir.join(format!("{stem}.mp3.wav"));
        write_samples(&wav, &tone(amplitude, seconds), RATE).expect("wav");
        let out = Command::new("lame")
            .args(["--quiet", "-b", "128"])
            .arg(&wav)
            .arg(&path)
            .output()
            .expect("lame runs (scripts/install-deps --test installs it)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::remove_file(&wav).unwrap();
    } else {
        write_samples(&path, &tone(amplitude, seconds), RATE).expect("music file");
    }
    path
}

fn rms(s: &[f32]) -> f64 {
    (s.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>() / s.len().max(1) as f64).sqrt()
}

#[test]
fn ogg_flac_mp3_and_wav_files_are_played_and_looped() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["a.ogg", "a.flac", "a.mp3", "a.wav"] {
        let file = music_file(dir.path(), name, 0.5, 2);
        let playlist = Playlist::find(&file).unwrap();
        // three times the file's length: it loops
        let samples: Vec<f32> = playlist
            .samples(2, 44_100, 1)
            .take(44_100 * 2 * 6)
            .collect();
        assert_eq!(samples.len(), 44_100 * 2 * 6, "{name} ran out");
        for second in 0..6 {
            let s = &samples[second * 88_200..(second + 1) * 88_200];
            let level = rms(s);
            assert!(
                (level - 0.5 / 2f64.sqrt()).abs() < 0.03,
                "{name}, second {second}: level {level}"
            );
        }
    }
}

#[test]
fn a_folder_is_every_music_file_in_it_shuffled_and_others_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("more");
    std::fs::create_dir(&sub).unwrap();
    // each file at a level of its own, to tell them apart
    music_file(dir.path(), "one.wav", 0.1, 1);
    music_file(dir.path(), "two.flac", 0.3, 1);
    music_file(&sub, "three.ogg", 0.6, 1);
    std::fs::write(dir.path().join("notes.txt"), "not music").unwrap();
    let playlist = Playlist::find(dir.path()).unwrap();
    assert_eq!(playlist.files().len(), 3);

    let orders: Vec<Vec<u32>> = (1..=6)
        .map(|seed| {
            let samples: Vec<f32> = playlist
                .samples(1, RATE, seed)
                .take(RATE as usize * 6)
                .collect();
            samples
                .chunks(RATE as usize)
                .map(|second| (rms(&second[2_000..20_000]) * 2f64.sqrt() * 10.0).round() as u32)
                .collect()
        })
        .collect();
    for order in &orders {
        // every pass plays each file once, and no file twice running
        let mut first: Vec<u32> = order[..3].to_vec();
        first.sort_unstable();
        assert_eq!(first, [1, 3, 6], "{order:?}");
        let mut second: Vec<u32> = order[3..].to_vec();
        second.sort_unstable();
        assert_eq!(second, [1, 3, 6], "{order:?}");
        assert!(order.windows(2).all(|w| w[0] != w[1]), "{order:?}");
    }
    assert!(
        orders.iter().any(|o| o[..3] != orders[0][..3]),
        "the order is shuffled: {orders:?}"
    );

    let empty = tempfile::tempdir().unwrap();
    let err = Playlist::find(empty.path()).unwrap_err().to_string();
    assert!(err.contains("holds no Ogg, FLAC, MP3 or WAV file"), "{err}");
    let err = Playlist::find(&dir.path().join("notes.txt"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("is not an Ogg, FLAC, MP3 or WAV file"),
        "{err}"
    );
    let err = Playlist::find(&dir.path().join("gone"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("cannot read"), "{err}");
}

/// A routine of a few spoken cues with long silences between them.
const SHORT: &str = r#"
name = "Short"
[[step]]
name = "Rest"
time = "30s"
"#;

#[test]
fn render_writes_each_format_by_its_name_with_music_when_asked() {
    let home = Home::new();
    let routine = home.routine("short.toml", SHORT);
    let music = music_file(home.path(), "bed.flac", 0.8, 3);
    let plan = home.plan_json(&[routine.to_str().unwrap()]);
    let total_ms = plan["total_ms"].as_u64().unwrap();
    let cues = plan["cues"].as_array().unwrap();
    // a quiet stretch of the session, far from every cue
    let (from, to) = cues
        .windows(2)
        .map(|w| {
            let end = w[0]["at_ms"].as_u64().unwrap() + w[0]["duration_ms"].as_u64().unwrap();
            (
                end + 1_000,
                w[1]["at_ms"].as_u64().unwrap().saturating_sub(500),
            )
        })
        .max_by_key(|(a, b)| b.saturating_sub(*a))
        .unwrap();
    assert!(to > from + 2_000, "no quiet stretch in {plan}");
    let window = |samples: &[f32], rate: u32| {
        let at = |ms: u64| (ms * u64::from(rate) / 1000) as usize;
        rms(&samples[at(from)..at(to)])
    };

    for name in ["s.wav", "s.flac", "s.ogg"] {
        for with_music in [false, true] {
            let out_file = home.path().join(name);
            let mut command = home.command(&["render", routine.to_str().unwrap(), "-o"]);
            command.arg(&out_file);
            if with_music {
                command.arg("--music").arg(&music);
            }
            let out = command.output().unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(stdout.contains("over music"), with_music, "{stdout}");
            let decoder =
                rodio::Decoder::try_from(std::fs::File::open(&out_file).unwrap()).unwrap();
            let rate = rodio::Source::sample_rate(&decoder).get();
            let samples: Vec<f32> = decoder.collect();
            let ms = samples.len() as u64 * 1000 / u64::from(rate);
            assert!(ms + 50 >= total_ms, "{name}: {ms} ms of {total_ms}");
            let level = window(&samples, rate);
            if with_music {
                // the music at its default volume (0.3 of the file's)
                let expected = 0.8 * 0.3 / 2f64.sqrt();
                assert!((level / expected - 1.0).abs() < 0.1, "{name}: {level}");
            } else {
                assert!(level < 0.005, "{name} without music: {level}");
            }
        }
    }
}

#[test]
fn render_refuses_a_name_it_cannot_write_and_music_it_cannot_play() {
    let home = Home::new();
    let routine = home.routine("short.toml", SHORT);
    let routine = routine.to_str().unwrap();
    let cases: [(&[&str], &str); 3] = [
        (&["-o", "x.mp3"], "end it with .wav, .flac or .ogg"),
        (
            &["-o", "x.wav", "--music", "/nonexistent/music"],
            "music: cannot read",
        ),
        (
            &["-o", "x.wav", "--music", routine],
            "is not an Ogg, FLAC, MP3 or WAV file",
        ),
    ];
    for (args, says) in cases {
        let out = home
            .command(&["render", routine])
            .args(args)
            .current_dir(home.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(!home.path().join("x.wav").exists() && !home.path().join("x.mp3").exists());
    }
}
