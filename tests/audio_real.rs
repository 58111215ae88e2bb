//! Real audio: clips played through the default output device (a private
//! PulseAudio null sink on machines without a sound card) are recorded
//! from the sink's monitor, and their onsets are checked against the plan.
//! Also the device-free render, checked to the millisecond.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant as StdInstant};

use massage_cue::audio::{AudioError, AudioOut, CueSink, render_to_wav};
use massage_cue::clip::Clip;
use massage_cue::plan::{Cue, CueKind, Plan};
use massage_cue::playback::{Clock, Handed, Playback};
use massage_cue::session::{Session, State};
use tokio_util::sync::CancellationToken;

use crate::common::onsets::{Detector, read_wav_mono, spacing_errors_ms, summary};
use crate::common::sound_server::{Recorder, run_with_sound_server};

/// The spacing of recorded onsets may differ from the plan by this much.
const LIVE_TOLERANCE_MS: f64 = 30.0;

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("audio_real");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Ten 80 ms tones a second apart, then four 300 ms apart.
fn live_plan() -> Arc<Plan> {
    let cues = (0..10)
        .map(|i| i * 1000)
        .chain([9_300, 9_600, 9_900, 10_200])
        .map(|at_ms| cue(at_ms, 80, "beep"))
        .collect();
    Arc::new(Plan {
        routine: "beeps".into(),
        total_ms: 10_280,
        steps: Vec::new(),
        cues,
        stretches: Vec::new(),
        warnings: Vec::new(),
        notes: Vec::new(),
        values: Vec::new(),
    })
}

#[test]
fn a_timeline_played_through_the_device_keeps_its_spacing() {
    run_with_sound_server(
        "a_timeline_played_through_the_device_keeps_its_spacing",
        || {
            let mut out = AudioOut::open().expect("open the default output");
            let recorder = Recorder::start(&scratch("timeline.wav"));
            let plan = live_plan();
            let beep = Clip::tone(1000.0, 80, 22_050);

            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .unwrap();
            let mut handed = 0;
            let session = rt
                .block_on(async {
                    // the daemon's hand-over, on a session starting 200 ms on
                    let playback = Playback::new(Clock::start());
                    let mut session = Session::start(Arc::clone(&plan), 200);
                    playback
                        .play(
                            &mut session,
                            &mut out,
                            |_| Some(beep.clone()),
                            &CancellationToken::new(),
                            |h| handed += usize::from(matches!(h.next, Handed::Cue { .. })),
                        )
                        .await
                        .map(|()| session)
                })
                .expect("play the plan");
            assert_eq!(session.state(), State::Finished);
            assert_eq!((handed, session.dropped()), (14, 0));
            assert!(
                out.drain(Duration::from_secs(5)),
                "the output never went quiet"
            );

            let (samples, rate) = recorder.stop();
            let onsets = Detector::default().onsets_ms(&samples, rate);
            let planned: Vec<u64> = plan.cues.iter().map(|c| c.at_ms).collect();
            let errors = spacing_errors_ms(&onsets, &planned);
            let (median, p99, max) = summary(&errors);
            eprintln!(
                "onset spacing error vs plan: median {median:.1} ms, p99 {p99:.1} ms, max \
                 {max:.1} ms; errors {errors:.1?}"
            );
            for (i, e) in errors.iter().enumerate() {
                assert!(
                    e.abs() <= LIVE_TOLERANCE_MS,
                    "cue {i} at {} ms sounded {e:.1} ms off the plan's spacing (all: {errors:.1?})",
                    planned[i]
                );
            }
        },
    );
}

#[test]
fn silence_stops_a_sounding_clip_at_once() {
    run_with_sound_server("silence_stops_a_sounding_clip_at_once", || {
        let mut out = AudioOut::open().expect("open the default output");
        let recorder = Recorder::start(&scratch("silence.wav"));
        let long = Clip::tone(700.0, 3_000, 48_000);

        let played = StdInstant::now();
        out.play(&long).unwrap();
        std::thread::sleep(Duration::from_millis(600));
        let silenced = StdInstant::now();
        out.silence();
        let cut_after = silenced - played;
        // the output takes new clips after a silence
        std::thread::sleep(Duration::from_millis(400));
        out.play(&Clip::tone(700.0, 100, 48_000)).unwrap();
        assert!(
            out.drain(Duration::from_secs(5)),
            "the output never went quiet"
        );

        let (samples, rate) = recorder.stop();
        let sounds = Detector::default().sounds(&samples, rate);
        assert_eq!(sounds.len(), 2, "{sounds:?}");
        // every onset is delayed by the same start delay; the cut is not
        let heard_ms = sounds[0].len_ms(rate);
        let silencing_ms =
            heard_ms - cut_after.as_secs_f64() * 1000.0 + out.start_delay().as_secs_f64() * 1000.0;
        eprintln!(
            "silenced {:.1} ms after the call (tone heard for {heard_ms:.1} ms, cut after {:.1} \
             ms, start delay {:?})",
            silencing_ms,
            cut_after.as_secs_f64() * 1000.0,
            out.start_delay()
        );
        assert!(
            silencing_ms <= 50.0,
            "the tone went on {silencing_ms:.1} ms after silence()"
        );
        assert!(
            silencing_ms >= -5.0,
            "the tone stopped {silencing_ms:.1} ms before silence() was called?"
        );
        assert!((sounds[1].len_ms(rate) - 100.0).abs() < 5.0);
    });
}

/// The threads that play sound run before other work where the system
/// allows it (here, as root), so a busy machine does not make cues late;
/// the session's own threads keep the normal priority.
#[test]
fn the_sound_threads_are_raised_where_allowed() {
    run_with_sound_server("the_sound_threads_are_raised_where_allowed", || {
        // (thread id, name, niceness) of each of this process's threads
        let threads = || -> Vec<(i32, String, i32)> {
            std::fs::read_dir("/proc/self/task")
                .unwrap()
                .flatten()
                .map(|task| {
                    let tid = task.file_name().to_str().unwrap().parse().unwrap();
                    let comm = std::fs::read_to_string(task.path().join("comm")).unwrap();
                    let stat = std::fs::read_to_string(task.path().join("stat")).unwrap();
                    // the fields after the name start at field 3; niceness is 19
                    let after = &stat[stat.rfind(')').unwrap() + 2..];
                    let nice = after.split(' ').nth(16).unwrap().parse().unwrap();
                    (tid, comm.trim_end().to_string(), nice)
                })
                .collect()
        };
        let out = AudioOut::open().expect("open the default output");
        let now = threads();
        let raised = massage_cue::audio::SOUND_THREAD_NICE;
        let niceness = |wanted: &dyn Fn(i32, &str) -> bool| {
            now.iter()
                .filter(|(tid, name, _)| wanted(*tid, name))
                .map(|t| t.2)
                .collect::<Vec<_>>()
        };
        let device = niceness(&|_, name| name == "audio-out");
        let me = rustix::thread::gettid().as_raw_pid();
        assert_eq!(niceness(&|tid, _| tid == me), [0], "{now:?}");
        if rustix::process::geteuid().is_root() {
            assert_eq!(device, [raised], "{now:?}");
            let sound = niceness(&|_, _| true).into_iter().filter(|n| *n == raised);
            assert!(
                sound.count() >= 2,
                "the audio library's threads too: {now:?}"
            );
        } else {
            eprintln!("not root: the sound threads may keep the normal priority: {now:?}");
        }
        drop(out);
    });
}

/// With no device at all, opening the output is a typed error, not a
/// panic. ALSA is given an empty configuration and PulseAudio an address
/// where nothing listens, so this holds on machines with sound cards too.
#[test]
fn no_output_device_is_a_typed_error() {
    if std::env::var_os("MASSAGE_CUE_NO_DEVICE_CHILD").is_some() {
        match AudioOut::open_with_timeout(Duration::from_secs(5)) {
            Err(AudioError::DeviceNotAvailable { detail }) => {
                eprintln!("as expected: {detail}");
            }
            other => panic!("expected DeviceNotAvailable, got {other:?}"),
        }
        return;
    }
    let empty = scratch("empty-alsa.conf");
    std::fs::write(&empty, "").unwrap();
    let started = StdInstant::now();
    let out = crate::common::rerun::this_test_again("no_output_device_is_a_typed_error")
        .env("MASSAGE_CUE_NO_DEVICE_CHILD", "1")
        .env("ALSA_CONFIG_PATH", &empty)
        .env("PULSE_SERVER", "unix:/nonexistent/massage-cue/pulse")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("as expected"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

fn cue(at_ms: u64, duration_ms: u64, text: &str) -> Cue {
    Cue {
        at_ms,
        duration_ms,
        kind: CueKind::Count,
        text: text.into(),
        step: Some(0),
        rep: None,
        sound: None,
    }
}

#[test]
fn a_rendered_session_has_every_onset_within_a_millisecond_of_the_plan() {
    // uneven offsets, clips of two lengths and a clip at another rate
    let offsets = [0u64, 1_000, 1_333, 2_001, 2_500, 4_999, 6_250, 7_777, 9_000];
    let cues: Vec<Cue> = offsets
        .iter()
        .enumerate()
        .map(|(i, &at)| cue(at, if i % 2 == 0 { 120 } else { 200 }, &format!("{i}")))
        .collect();
    let plan = Plan {
        routine: "synthetic".into(),
        total_ms: 10_000,
        steps: Vec::new(),
        cues,
        warnings: Vec::new(),
        notes: Vec::new(),
        values: Vec::new(),
        stretches: Vec::new(),
    };
    let path = scratch("render.wav");
    let summary = render_to_wav(
        &plan,
        |c| {
            let rate = if c.text == "4" { 16_000 } else { 22_050 };
            Clip::tone(880.0, c.duration_ms, rate)
        },
        &path,
    )
    .unwrap();
    assert_eq!(summary.rate, 22_050);
    assert_eq!(summary.duration_ms(), 10_000);

    let (samples, rate) = read_wav_mono(&path);
    assert_eq!(rate, 22_050);
    let sounds = Detector::default().sounds(&samples, rate);
    assert_eq!(sounds.len(), offsets.len(), "{sounds:?}");
    for ((sound, &at), c) in sounds.iter().zip(&offsets).zip(&plan.cues) {
        let onset = sound.start_ms(rate);
        assert!(
            (onset - at as f64).abs() <= 1.0,
            "cue at {at} ms starts at {onset:.2} ms"
        );
        assert!(
            (sound.len_ms(rate) - c.duration_ms as f64).abs() <= 2.0,
            "cue at {at} ms lasts {:.2} ms",
            sound.len_ms(rate)
        );
    }
}

/// Without PulseAudio the sound server script fails and names the package
/// to install, rather than leaving the real-audio tests to pass vacuously.
#[test]
fn the_sound_server_script_names_a_missing_package() {
    // a PATH holding only what the script needs before its package check
    let bin = scratch("bin-without-pulseaudio");
    std::fs::create_dir_all(&bin).unwrap();
    let id = bin.join("id");
    if !id.exists() {
        std::os::unix::fs::symlink("/usr/bin/id", &id).unwrap();
    }
    let out = Command::new("/bin/bash")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/sound-server"))
        .args(["start", "--private"])
        .env("PATH", &bin)
        .env("MC_SOUND_DIR", scratch("sound-never-started"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(out.stdout.is_empty(), "printed exports without a server");
    assert!(
        stderr.contains("install the Debian package 'pulseaudio'"),
        "{stderr}"
    );
}
