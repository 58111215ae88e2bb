//! Timing figures for `docs/BENCHMARKS.md`; `scripts/bench-timing` runs it.
//!
//! ```text
//! bench_timing live --count N [--tempo-ms 2000] [--sound tone|espeak] [--wav FILE]
//!     plays N cues at the tempo through the default output with the real
//!     player, records the sound server's monitor, and prints the onset
//!     error against the plan
//! bench_timing analyze FILE [--tempo-ms 2000]
//!     onsets of a recording (the shell-loop baseline): intervals and span
//! bench_timing render [--minutes 30]
//!     renders a synthetic session to a WAV and prints the speed
//! ```
//! Every result is one line of `key=value` pairs on stdout.

#[path = "../tests/common/mod.rs"]
mod common;

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use massage_cue::audio::{
    AudioOut, PlayOptions, TimedClip, play_plan, render_timeline, render_timeline_to_wav,
};
use massage_cue::clip::Clip;
use tokio_util::sync::CancellationToken;

use common::onsets::{Detector, read_wav_mono, summary};
use common::sound_server::Recorder;

/// Spoken counts are 2 s apart: a gap this long separates them, while the
/// pauses inside a word ("seven-teen") do not.
const SPEECH: Detector = Detector {
    threshold: 0.02,
    min_gap_ms: 400.0,
};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let num = |name: &str, default: u64| {
        flag(name).map_or(default, |v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name} wants a number, not {v}"))
        })
    };
    match args.first().map(String::as_str) {
        Some("live") => live(
            num("--count", 150),
            num("--tempo-ms", 2_000),
            flag("--sound").as_deref().unwrap_or("tone"),
            flag("--wav").map_or_else(
                || std::env::temp_dir().join("bench-live.wav"),
                PathBuf::from,
            ),
        ),
        Some("analyze") => analyze(
            &PathBuf::from(args.get(1).expect("analyze FILE")),
            num("--tempo-ms", 2_000),
        ),
        Some("render") => render(num("--minutes", 30)),
        _ => {
            eprintln!("usage: bench_timing live|analyze|render (see the source)");
            std::process::exit(2);
        }
    }
}

/// A spoken number from espeak-ng, as the fallback voice would make it.
fn espeak(text: &str) -> Clip {
    let out = Command::new("espeak-ng")
        .args(["--stdout", text])
        .output()
        .expect("espeak-ng (Debian package espeak-ng)");
    assert!(out.status.success(), "espeak-ng failed");
    // espeak-ng leaves the sizes in the header unset when writing to a
    // pipe: fix them before parsing
    let mut wav = out.stdout;
    let data_len = (wav.len() - 44) as u32;
    wav[4..8].copy_from_slice(&(data_len + 36).to_le_bytes());
    wav[40..44].copy_from_slice(&data_len.to_le_bytes());
    let mut reader = hound::WavReader::new(Cursor::new(wav)).expect("espeak-ng WAV");
    let rate = reader.spec().sample_rate;
    let samples: Vec<f32> = reader
        .samples::<i16>()
        .map(|s| f32::from(s.unwrap()) / 32_768.0)
        .collect();
    Clip {
        rate,
        samples: samples.into(),
    }
}

fn live(count: u64, tempo_ms: u64, sound: &str, wav: PathBuf) {
    let clips: Vec<Clip> = match sound {
        "tone" => vec![Clip::tone(1000.0, 60, 22_050); count as usize],
        "espeak" => (1..=count).map(|n| espeak(&n.to_string())).collect(),
        other => panic!("--sound tone|espeak, not {other}"),
    };
    let detector = if sound == "tone" {
        Detector::default()
    } else {
        SPEECH
    };
    // where each clip's own onset lies, as the detector sees it, so that
    // clips starting with a soft consonant are not counted as late
    let bias_ms: Vec<f64> = clips
        .iter()
        .map(|c| detector.onsets_ms(&c.samples, c.rate)[0])
        .collect();
    let timeline: Vec<TimedClip> = clips
        .into_iter()
        .enumerate()
        .map(|(i, clip)| TimedClip {
            at_ms: i as u64 * tempo_ms,
            clip,
            cue: i,
        })
        .collect();

    let opening = Instant::now();
    let mut out = AudioOut::open().expect("open the default output");
    let open_ms = opening.elapsed().as_millis();
    let recorder = Recorder::start(&wav);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let began = Instant::now();
    let outcome = rt
        .block_on(async {
            let start = tokio::time::Instant::now() + Duration::from_millis(200);
            play_plan(
                &mut out,
                &timeline,
                PlayOptions::new(start, 0),
                &CancellationToken::new(),
                |_| {},
            )
            .await
        })
        .expect("play");
    let wall_s = began.elapsed().as_secs_f64();
    out.drain(Duration::from_secs(10));
    let (samples, rate) = recorder.stop();

    let onsets = detector.onsets_ms(&samples, rate);
    let planned: Vec<f64> = timeline
        .iter()
        .zip(&bias_ms)
        .map(|(t, b)| t.at_ms as f64 + b)
        .collect();
    // pair every cue with the onset nearest to it, once the recording's
    // start is lined up with the first cue; a cue with none within half a
    // tempo is missing
    let shift = onsets.first().expect("nothing was recorded") - planned[0];
    let half_tempo = tempo_ms as f64 / 2.0;
    let matched: Vec<(f64, f64)> = planned
        .iter()
        .filter_map(|p| {
            let want = p + shift;
            onsets
                .iter()
                .copied()
                .min_by(|a, b| (a - want).abs().total_cmp(&(b - want).abs()))
                .filter(|m| (m - want).abs() < half_tempo)
                .map(|m| (*p, m))
        })
        .collect();
    let missing = planned.len() - matched.len();
    let extra = onsets.len() - matched.len();
    // errors are measured from the typical offset, not from one cue
    let mut offsets: Vec<f64> = matched.iter().map(|(p, m)| m - p).collect();
    offsets.sort_by(f64::total_cmp);
    let typical = offsets[offsets.len() / 2];
    let x: Vec<f64> = matched.iter().map(|(p, _)| *p).collect();
    let errors: Vec<f64> = matched.iter().map(|(p, m)| m - p - typical).collect();
    eprintln!("errors (ms) per cue: {errors:.1?}");
    let (median, p99, max) = summary(&errors);
    let over_5ms = errors.iter().filter(|e| e.abs() > 5.0).count();
    let drift = errors.last().unwrap() - errors[0];
    // a steady slope is the sound device's clock against the system's
    // monotonic clock, which the player follows
    let slope = trend(&x, &errors);
    println!(
        "live sound={sound} cues={count} tempo_ms={tempo_ms} span_s={:.3} wall_s={wall_s:.1} \
         open_ms={open_ms} start_delay_ms={:.1} dropped={} missing={missing} extra={extra} \
         median_ms={median:.1} p99_ms={p99:.1} max_ms={max:.1} over_5ms={over_5ms} \
         drift_ms={drift:.1} device_clock_ppm={:.0} plan_span_s={:.3}",
        (matched.last().unwrap().1 - matched[0].1) / 1000.0,
        out.start_delay().as_secs_f64() * 1000.0,
        outcome.dropped,
        slope * 1e6,
        (timeline.last().unwrap().at_ms - timeline[0].at_ms) as f64 / 1000.0,
    );
}

/// Least-squares slope of `y` against `x`.
fn trend(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len() as f64;
    let mx = x.iter().sum::<f64>() / n;
    let my = y.iter().sum::<f64>() / n;
    let sxy: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let sxx: f64 = x.iter().map(|a| (a - mx) * (a - mx)).sum();
    if sxx == 0.0 { 0.0 } else { sxy / sxx }
}

fn analyze(path: &Path, tempo_ms: u64) {
    let (samples, rate) = read_wav_mono(path);
    let onsets = SPEECH.onsets_ms(&samples, rate);
    assert!(onsets.len() >= 2, "found {} onsets", onsets.len());
    let gaps: Vec<f64> = onsets.windows(2).map(|w| w[1] - w[0]).collect();
    let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
    let min = gaps.iter().copied().fold(f64::MAX, f64::min);
    let max = gaps.iter().copied().fold(0.0, f64::max);
    let span = onsets.last().unwrap() - onsets[0];
    let intended = (onsets.len() - 1) as f64 * tempo_ms as f64;
    println!(
        "analyze onsets={} interval_mean_ms={mean:.1} interval_min_ms={min:.1} \
         interval_max_ms={max:.1} span_s={:.3} intended_span_s={:.3} drift_s={:.3}",
        onsets.len(),
        span / 1000.0,
        intended / 1000.0,
        (span - intended) / 1000.0
    );
}

fn render(minutes: u64) {
    // a session's worth of speech-length clips at 22.05 kHz: an
    // announcement every minute and a count every 2 s
    let rate = 22_050;
    let count = Clip::tone(500.0, 450, rate);
    let announce = Clip::tone(300.0, 2_500, rate);
    let total_ms = minutes * 60_000;
    let timeline: Vec<TimedClip> = (0..total_ms / 2_000)
        .map(|i| TimedClip {
            at_ms: i * 2_000,
            clip: if i % 30 == 0 {
                announce.clone()
            } else {
                count.clone()
            },
            cue: i as usize,
        })
        .collect();
    let path = std::env::temp_dir().join(format!("bench-render-{}.wav", std::process::id()));
    let began = Instant::now();
    let summary = render_timeline_to_wav(&timeline, total_ms, &path).expect("render");
    let to_wav_s = began.elapsed().as_secs_f64();
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    std::fs::remove_file(&path).ok();
    let began = Instant::now();
    let in_memory = render_timeline(&timeline, total_ms, rate);
    let in_memory_s = began.elapsed().as_secs_f64();
    let session_s = summary.duration_ms() as f64 / 1000.0;
    println!(
        "render minutes={minutes} cues={} rate={rate} wav_mb={:.1} to_wav_s={to_wav_s:.2} \
         to_wav_x={:.0} in_memory_s={in_memory_s:.2} in_memory_x={:.0}",
        timeline.len(),
        size as f64 / 1e6,
        session_s / to_wav_s,
        in_memory.len() as f64 / f64::from(rate) / in_memory_s,
    );
}
