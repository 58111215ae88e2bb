//! Timing figures for `docs/BENCHMARKS.md`; `scripts/bench-timing` runs it.
//!
//! ```text
//! bench_timing live [--routine FILE] [--length 10m] [--dir DIR] [--bin PATH] [--markdown] [--reanalyze]
//!     starts a daemon with a private home, starts a session of the routine
//!     over the socket, records the sound server's monitor until the session
//!     is over, and compares every cue's onset on the recording with where
//!     `plan --json` puts it; the recordings stay in DIR, and --reanalyze
//!     analyses them again without playing
//! bench_timing analyze FILE [--tempo-ms 2000]
//!     onsets of a recording (the shell-loop baseline): intervals and span
//! bench_timing render [--minutes 30]
//!     renders a synthetic session to a WAV and prints the speed
//! ```
//! Every result is one line of `key=value` pairs on stdout; `live
//! --markdown` prints the "Live timing" section of `docs/BENCHMARKS.md`
//! instead.

#[path = "../tests/common/mod.rs"]
mod common;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use massage_cue::audio::{TimedClip, render_timeline, render_timeline_to_wav};
use massage_cue::client::Client;
use massage_cue::clip::Clip;
use massage_cue::protocol::{Request, SessionState, StartOptions};
use serde::Deserialize;

use common::onsets::{Detector, read_wav_mono};
use common::sound_server::Recorder;

/// Spoken cues are hundreds of ms apart: a gap this long separates them,
/// while the pauses inside a word ("seven-teen") do not.
const SPEECH: Detector = Detector {
    threshold: 0.02,
    min_gap_ms: 400.0,
};

/// A recorded onset further than this from where its cue is expected is
/// taken for another sound, and the cue counts as not heard.
const MATCH_WINDOW_MS: f64 = 200.0;

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
        Some("live") => live(&Live {
            routine: flag("--routine").map_or_else(
                || Path::new(env!("CARGO_MANIFEST_DIR")).join("routines/lower-back.toml"),
                PathBuf::from,
            ),
            length: flag("--length").unwrap_or_else(|| "10m".into()),
            dir: flag("--dir").map_or_else(
                || std::env::temp_dir().join(format!("bench-live-{}", std::process::id())),
                PathBuf::from,
            ),
            bin: flag("--bin").map_or_else(sibling_binary, PathBuf::from),
            markdown: args.iter().any(|a| a == "--markdown"),
            reanalyze: args.iter().any(|a| a == "--reanalyze"),
        }),
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

/// The `massage-cue` built beside this example (`target/PROFILE/`).
fn sibling_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("where this benchmark runs from");
    exe.parent()
        .and_then(Path::parent)
        .map(|dir| dir.join("massage-cue"))
        .filter(|bin| bin.exists())
        .expect("build massage-cue first (cargo build --release), or give --bin PATH")
}

/// What `live` measures.
struct Live {
    routine: PathBuf,
    length: String,
    dir: PathBuf,
    bin: PathBuf,
    markdown: bool,
    /// Analyse the recordings a run left in `dir` again.
    reanalyze: bool,
}

/// The part of `plan --json` the benchmark reads.
#[derive(Debug, Deserialize)]
struct PlanJson {
    routine: String,
    total_ms: u64,
    cues: Vec<CueJson>,
}

#[derive(Debug, Deserialize)]
struct CueJson {
    at_ms: u64,
    duration_ms: u64,
}

/// Runs `massage-cue ARGS` in the private home and returns its output.
fn run(live: &Live, home: &Path, args: &[&str]) -> Vec<u8> {
    let mut command = Command::new(&live.bin);
    let out = confine(command.args(args), home)
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", live.bin.display()));
    assert!(out.status.success(), "massage-cue {args:?} failed");
    out.stdout
}

/// Points `command` at folders under `home` only (configuration, state,
/// cache, runtime), with plain `info` logs and no standard input.
fn confine<'a>(command: &'a mut Command, home: &Path) -> &'a mut Command {
    command
        .env("HOME", home)
        .env("XDG_RUNTIME_DIR", home.join("run"))
        .env("XDG_STATE_HOME", home.join("state"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
}

/// The load averages (1, 5, 15 min) as `/proc/loadavg` gives them.
fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// The one-minute load average of a [`load`] line.
fn one_minute(load: &str) -> f64 {
    load.split(' ')
        .next()
        .and_then(|l| l.parse().ok())
        .unwrap_or(0.0)
}

/// Stops the daemon when the benchmark ends, however it ends.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn live(live: &Live) {
    if !live.reanalyze {
        record_live(live);
    }
    analyze_live(live);
}

/// What happened while the session was recorded, kept beside the
/// recordings so that they can be analysed again (`--reanalyze`).
#[derive(Debug, serde::Serialize, Deserialize)]
struct Facts {
    routine: String,
    length: String,
    wall_s: f64,
    start_reply_ms: u64,
    pauses: usize,
    cores: usize,
    cpu: String,
    load_before: String,
    load_peak: String,
    load_after: String,
}

/// Plans and renders the session, then plays it through a daemon and
/// records it: `plan.json`, `expected.wav`, `live.wav`, `daemon.log` and
/// `facts.json` in the benchmark's folder.
fn record_live(live: &Live) {
    let home = live.dir.join("home");
    let run_dir = home.join("run");
    std::fs::create_dir_all(&run_dir).expect("make the private home");
    // the daemon serves only from a runtime folder nobody else can enter
    std::fs::set_permissions(
        &run_dir,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .expect("make the runtime folder private");
    let routine = live.routine.to_str().expect("a routine path in UTF-8");
    let length_ms = humantime::parse_duration(&live.length)
        .expect("--length like 10m")
        .as_millis() as u64;

    // what the session should sound like: the plan, and the same session
    // rendered, whose onsets lie exactly on the plan's offsets plus each
    // clip's own quiet lead-in before its first loud sample
    let plan_json = run(
        live,
        &home,
        &["plan", routine, "--length", &live.length, "--json"],
    );
    std::fs::write(live.dir.join("plan.json"), &plan_json).expect("keep plan.json");
    let plan: PlanJson = serde_json::from_slice(&plan_json).expect("plan --json");
    let expected_wav = live.dir.join("expected.wav");
    run(
        live,
        &home,
        &[
            "render",
            routine,
            "--length",
            &live.length,
            "-o",
            expected_wav.to_str().unwrap(),
        ],
    );

    let load_before = load();
    let log_path = live.dir.join("daemon.log");
    let log = File::create(&log_path).expect("daemon log");
    let mut command = Command::new(&live.bin);
    let daemon = Daemon(
        confine(command.arg("daemon"), &home)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start the daemon"),
    );
    let socket = run_dir.join("massage-cue.sock");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut client = loop {
        match Client::connect(&socket) {
            Ok(client) => break client,
            Err(err) if Instant::now() >= deadline => {
                panic!("no daemon on {}: {err}", socket.display())
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    };

    let recorder = Recorder::start(&live.dir.join("live.wav"));
    let asked = Instant::now();
    let (status, message) = client
        .call(&Request::Start {
            routine: routine.into(),
            options: StartOptions {
                length_ms: Some(length_ms),
                ..StartOptions::default()
            },
        })
        .expect("start a session");
    let start_reply_ms = asked.elapsed().as_millis() as u64;
    assert_eq!(status.state, SessionState::Running, "{message:?}");
    let until = asked + Duration::from_millis(plan.total_ms) + Duration::from_secs(120);
    let mut load_peak = load();
    // a machine too busy to feed the sound server makes the daemon take
    // its output for lost and pause: that is counted, and the session
    // resumed
    let mut pauses = 0;
    loop {
        std::thread::sleep(Duration::from_secs(1));
        let (status, _) = client.call(&Request::Status).expect("status");
        if status.state == SessionState::Finished {
            break;
        }
        if status.state == SessionState::Paused {
            pauses += 1;
            eprintln!("the session paused: {:?}", status.message);
            let _ = client.call(&Request::Resume);
        }
        assert!(
            Instant::now() < until,
            "the session did not finish in time: {status:?}"
        );
        let now = load();
        if one_minute(&now) > one_minute(&load_peak) {
            load_peak = now;
        }
    }
    let wall_s = asked.elapsed().as_secs_f64();
    // the closing chime sounds out after the session ends
    std::thread::sleep(Duration::from_secs(3));
    drop(recorder.stop());
    let load_after = load();
    let _ = client.send(&Request::Shutdown);
    drop(daemon);
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    let facts = Facts {
        routine: plan.routine,
        length: live.length.clone(),
        wall_s,
        start_reply_ms,
        pauses,
        cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu,
        load_before,
        load_peak,
        load_after,
    };
    std::fs::write(
        live.dir.join("facts.json"),
        serde_json::to_vec_pretty(&facts).unwrap(),
    )
    .expect("keep facts.json");
}

/// A recorded onset paired with the cue it sounds.
#[derive(Debug, Clone, Copy)]
struct Paired {
    /// The cue's offset in the plan.
    at_ms: u64,
    /// Where its first loud sample lies in the rendered session.
    expected: f64,
    /// Where it was heard on the recording.
    heard: f64,
    /// Which stretch between pauses it was heard in.
    stretch: usize,
}

/// Pairs each expected onset with a recorded one, in order. The offset
/// between recording and rendering is the same for every cue while the
/// session runs on; a pause moves it (and the cues from the start of the
/// interrupted repetition are said again), so when a cue finds no onset
/// near where the offset puts it, the offset is found again from the next
/// cues: the one most of them agree on. The recording can also step (a
/// recorder that drops audio on a busy machine, a sound server whose
/// latency changes), so this is done with or without a pause; each
/// stretch gets its own typical offset.
fn pair(expected: &[(u64, f64)], onsets: &[f64]) -> Vec<Paired> {
    let mut paired = Vec::new();
    let mut shift = onsets[0] - expected[0].1;
    let mut stretch = 0;
    // recorded onsets up to here are taken
    let mut taken = f64::MIN;
    let mut i = 0;
    let mut resynced = false;
    while i < expected.len() {
        let (at_ms, e) = expected[i];
        let want = e + shift;
        let near = onsets
            .iter()
            .copied()
            .filter(|&l| l > taken)
            .min_by(|a, b| (a - want).abs().total_cmp(&(b - want).abs()))
            .filter(|l| (l - want).abs() < MATCH_WINDOW_MS);
        if let Some(heard) = near {
            paired.push(Paired {
                at_ms,
                expected: e,
                heard,
                stretch,
            });
            taken = heard;
            i += 1;
            resynced = false;
            continue;
        }
        if !resynced {
            resynced = true;
            let later: Vec<f64> = onsets.iter().copied().filter(|&l| l > taken).collect();
            if let Some(found) = resync(&expected[i..], &later)
                && (found - shift).abs() >= MATCH_WINDOW_MS
            {
                shift = found;
                stretch += 1;
                continue;
            }
        }
        i += 1;
        resynced = false;
    }
    paired
}

/// The offset (recorded minus expected) that most of the next cues agree
/// on, within 5 ms, when at least 4 do.
fn resync(expected: &[(u64, f64)], onsets: &[f64]) -> Option<f64> {
    let cues = &expected[..expected.len().min(12)];
    let heard = &onsets[..onsets.len().min(24)];
    let votes = |shift: f64| {
        cues.iter()
            .filter(|(_, e)| heard.iter().any(|l| (l - e - shift).abs() < 5.0))
            .count()
    };
    heard
        .iter()
        .flat_map(|l| cues.iter().map(move |(_, e)| l - e))
        .map(|shift| (votes(shift), shift))
        .max_by(|a, b| a.0.cmp(&b.0).then(b.1.total_cmp(&a.1)))
        .filter(|(n, _)| *n >= 4)
        .map(|(_, shift)| shift)
}

/// Compares the recording with the plan and prints the figures.
fn analyze_live(live: &Live) {
    let read = |name: &str| {
        std::fs::read(live.dir.join(name))
            .unwrap_or_else(|e| panic!("{}: {e}", live.dir.join(name).display()))
    };
    let plan: PlanJson = serde_json::from_slice(&read("plan.json")).expect("plan.json");
    let facts: Facts = serde_json::from_slice(&read("facts.json")).expect("facts.json");
    let (rendered, render_rate) = read_wav_mono(&live.dir.join("expected.wav"));
    let render_onsets = SPEECH.onsets_ms(&rendered, render_rate);
    // each cue that starts a sound of its own, with where that sound starts
    let expected: Vec<(u64, f64)> = plan
        .cues
        .iter()
        .filter_map(|c| {
            let (from, to) = (
                c.at_ms as f64 - 2.0,
                (c.at_ms + c.duration_ms.max(1)) as f64,
            );
            render_onsets
                .iter()
                .find(|&&o| o >= from && o < to)
                .map(|&o| (c.at_ms, o))
        })
        .collect();
    let lead_in_max = expected
        .iter()
        .map(|(at, o)| o - *at as f64)
        .fold(0.0, f64::max);
    let dropped = String::from_utf8_lossy(&read("daemon.log"))
        .lines()
        .filter(|l| l.contains("stale cues"))
        .count();
    let (samples, rate) = read_wav_mono(&live.dir.join("live.wav"));
    let onsets = SPEECH.onsets_ms(&samples, rate);
    assert!(!onsets.is_empty(), "nothing was recorded");

    let matched = pair(&expected, &onsets);
    let missing = expected.len() - matched.len();
    let unheard: Vec<u64> = expected
        .iter()
        .filter(|(at, _)| !matched.iter().any(|m| m.at_ms == *at))
        .map(|(at, _)| *at)
        .collect();
    eprintln!("not heard (plan at_ms): {unheard:?}");
    let extra = onsets.len().saturating_sub(matched.len());
    // the stretches between pauses that have cues heard in them
    let mut stretches: Vec<usize> = matched.iter().map(|m| m.stretch).collect();
    stretches.dedup();
    // errors are measured from the typical offset (the output's fixed
    // latency) of the stretch between pauses a cue was heard in
    let typical = |stretch: usize| {
        let mut offsets: Vec<f64> = matched
            .iter()
            .filter(|m| m.stretch == stretch)
            .map(|m| m.heard - m.expected)
            .collect();
        offsets.sort_by(f64::total_cmp);
        offsets[offsets.len() / 2]
    };
    let typicals: std::collections::HashMap<usize, f64> =
        stretches.iter().map(|&s| (s, typical(s))).collect();
    let errors: Vec<f64> = matched
        .iter()
        .map(|m| m.heard - m.expected - typicals[&m.stretch])
        .collect();
    let mut abs: Vec<f64> = errors.iter().map(|e| e.abs()).collect();
    abs.sort_by(f64::total_cmp);
    let quantile = |q: f64| abs[((abs.len() - 1) as f64 * q).round() as usize];
    let (median, p95, p99, max) = (quantile(0.5), quantile(0.95), quantile(0.99), quantile(1.0));
    let over_5ms = abs.iter().filter(|e| **e > 5.0).count();
    // drift and the clock's rate over the longest stretch without a pause
    let longest = stretches
        .iter()
        .copied()
        .max_by_key(|s| matched.iter().filter(|m| m.stretch == *s).count())
        .unwrap_or(0);
    let (x, y): (Vec<f64>, Vec<f64>) = matched
        .iter()
        .zip(&errors)
        .filter(|(m, _)| m.stretch == longest)
        .map(|(m, e)| (m.expected, *e))
        .unzip();
    let drift = y.last().unwrap() - y[0];
    let drift_span_s = (x.last().unwrap() - x[0]) / 1000.0;
    // a steady slope is the sound device's clock against the system's
    // monotonic clock, which the session follows
    let slope = trend(&x, &y);
    let worst: Vec<String> = {
        let mut by_error: Vec<(u64, f64)> = matched
            .iter()
            .zip(&errors)
            .map(|(m, e)| (m.at_ms, *e))
            .collect();
        by_error.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
        by_error
            .iter()
            .take(5)
            .map(|(at, e)| format!("{at}:{e:+.1}"))
            .collect()
    };
    eprintln!("errors (ms) per cue: {errors:.1?}");
    eprintln!("worst (plan at_ms:error ms): {}", worst.join(" "));
    let Facts {
        routine,
        length,
        wall_s,
        start_reply_ms,
        pauses,
        cores,
        cpu,
        load_before,
        load_peak,
        load_after,
    } = facts;
    let line = format!(
        "live routine={routine:?} length={length} plan_cues={} measured_cues={} \
         missing={missing} extra={extra} dropped={dropped} pauses={pauses} \
         stretches={} wall_s={wall_s:.1} start_reply_ms={start_reply_ms} \
         median_ms={median:.1} p95_ms={p95:.1} p99_ms={p99:.1} max_ms={max:.1} \
         over_5ms={over_5ms} drift_ms={drift:.1} drift_span_s={drift_span_s:.0} \
         device_clock_ppm={:.0} lead_in_max_ms={lead_in_max:.1} cores={cores} \
         load_before={load_before:?} load_peak={load_peak:?} load_after={load_after:?} \
         cpu={cpu:?}",
        plan.cues.len(),
        expected.len(),
        stretches.len(),
        slope * 1e6,
    );
    if !live.markdown {
        println!("{line}");
        return;
    }
    eprintln!("{line}");
    println!(
        "| cues measured (of {} planned) | {} |\n\
         | onset error, median | {median:.1} ms |\n\
         | onset error, p95 | {p95:.1} ms |\n\
         | onset error, p99 | {p99:.1} ms |\n\
         | onset error, max | {max:.1} ms |\n\
         | cues more than 5 ms off | {over_5ms} |\n\
         | cues not found on the recording / dropped as stale | {missing} / {dropped} |\n\
         | pauses for an output taken as lost (resumed at once) | {pauses} |\n\
         | stretches with an offset of their own (a pause, or the recording stepping) | {} |\n\
         | drift over the longest stretch, {drift_span_s:.0} s (error of its last cue minus its first) | {drift:.1} ms |\n\
         | steady rate of the errors (sound device clock against the system clock) | {:.0} ppm |\n\
         | `start` request answered after | {start_reply_ms} ms |\n\
         | load average before / highest / after (1, 5, 15 min; {cores} cores) | {load_before} / {load_peak} / {load_after} |",
        plan.cues.len(),
        matched.len(),
        stretches.len(),
        slope * 1e6,
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
