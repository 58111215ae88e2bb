//! `massage-cue render` of a bundled routine, through the real binary and
//! the real voice pack: every cue of the plan starts in the file within a
//! millisecond of its `at_ms`: each cue's own clip is found in the file at
//! that sample.

use std::path::PathBuf;

use crate::common::onsets::read_wav_mono;
use crate::daemon::Home;
use massage_cue::clip::SESSION_RATE;
use massage_cue::config::Config;
use massage_cue::speech::Sound;
use massage_cue::voice::{Voice, VoiceSettings};

#[test]
fn a_rendered_seed_routine_puts_every_cue_on_its_millisecond() {
    let home = Home::new().bundled_routines();
    let wav = home.path().join("session.wav");
    let out = home
        .command(&["render", "hip-knee-mobility", "-o"])
        .arg(&wav)
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan = home.plan_json(&["hip-knee-mobility"]);
    let cues = plan["cues"].as_array().expect("cues");
    let planned: Vec<f64> = cues
        .iter()
        .map(|c| c["at_ms"].as_f64().expect("at_ms"))
        .collect();
    assert!(
        planned.len() > 50,
        "a whole session: {} cues",
        planned.len()
    );

    let (samples, rate) = read_wav_mono(&wav);
    assert_eq!(rate, SESSION_RATE);
    let total_ms = plan["total_ms"].as_f64().expect("total_ms");
    assert!((samples.len() as f64 * 1000.0 / rate as f64) >= total_ms - 1.0);

    // The same clips the binary used: the bundled pack, and the phrases
    // it rendered with the default speech command, from its cache.
    let voice = Voice::new(VoiceSettings {
        sounds_dir: Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sounds")),
        cache_dir: Some(home.speech_cache()),
        command: Config::default().voice.command,
        timeout: std::time::Duration::from_secs(10),
        rate: SESSION_RATE,
        natural: Err("not used here".into()),
    });
    let one_ms = rate as i64 / 1000;
    let mut worst = 0i64;
    for (i, cue) in cues.iter().enumerate() {
        let text = cue["text"].as_str().expect("text");
        let clip = match cue["sound"].as_str() {
            Some("tick") => voice.sound(Sound::Tick),
            Some("chime") => voice.sound(Sound::Chime),
            _ => voice.clip(text),
        };
        let at = (planned[i] * rate as f64 / 1000.0).round() as i64;
        let (offset, residual) = best_offset(&samples, &clip.samples, at, 2 * one_ms);
        worst = worst.max(offset.abs());
        assert!(
            offset.abs() <= one_ms && residual < 0.01,
            "cue {i} ({text}) planned at {} ms is found {offset} samples away (residual {residual:.4})",
            planned[i]
        );
    }
    eprintln!("{} cues, worst offset {worst} samples", cues.len());
}

/// Where `clip` best matches `track` near sample `at` (within `reach`):
/// the offset from `at`, and the remaining difference relative to the
/// clip's energy (0 for an exact copy).
fn best_offset(track: &[f32], clip: &[f32], at: i64, reach: i64) -> (i64, f64) {
    let n = clip.len().min(4096);
    let energy: f64 = clip[..n]
        .iter()
        .map(|&x| f64::from(x) * f64::from(x))
        .sum::<f64>()
        .max(1e-9);
    let mut best = (i64::MAX, f64::INFINITY);
    for d in -reach..=reach {
        let start = at + d;
        if start < 0 || start as usize + n > track.len() {
            continue;
        }
        let start = start as usize;
        let diff: f64 = track[start..start + n]
            .iter()
            .zip(&clip[..n])
            .map(|(&a, &b)| {
                let e = f64::from(a) - f64::from(b);
                e * e
            })
            .sum();
        if diff < best.1 {
            best = (d, diff);
        }
    }
    (best.0, best.1 / energy)
}
