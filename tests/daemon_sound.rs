//! The daemon when its sound output goes away mid-session: the session
//! pauses where it was, the daemon goes on answering, and once the sound
//! server is back the session resumes, by itself (the default) or on
//! request with `[audio] auto_resume = false`. A stall of the daemon itself
//! is no loss: the session goes on, the counts due meanwhile dropped. A
//! session started with no sound server sounds once one is there.
//!
//! Each test starts a sound server of its own (`scripts/sound-server start
//! --private` with a private `MC_SOUND_DIR`), kills it with SIGKILL and
//! starts it again on the same socket, so no other test's server is
//! disturbed. The daemon is the real binary with private XDG folders,
//! playing a bundled routine.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::onsets::Detector;
use crate::common::sound_server::Recorder;
use crate::daemon::{Connection, Daemon, Home, request, start_request};

/// How long starting things (a server, the daemon, a session) may take.
const PATIENCE: Duration = Duration::from_secs(20);

/// How long the daemon may take to notice that the sound output is gone,
/// or back.
const NOTICE: Duration = Duration::from_secs(15);

/// How long starting a session may take: the voice is prepared first.
const START_PATIENCE: Duration = Duration::from_secs(60);

/// About six minutes, a cue every few seconds.
const ROUTINE: &str = "hip-knee-mobility";

/// A user's folders with `config` as the configuration file, the bundled
/// routines, and a sound server of its own.
fn home(config: &str) -> Home {
    let home = Home::new().patience(PATIENCE).bundled_routines();
    home.config(config);
    home.private_sound_server()
}

/// Waits until `status --json` satisfies `ready`; that status.
fn wait_status(
    home: &Home,
    what: &str,
    patience: Duration,
    daemon: &mut Daemon,
    ready: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + patience;
    loop {
        // a client starts a daemon when none runs: make sure ours does
        assert!(
            daemon.alive(),
            "the daemon died; its log:\n{}",
            daemon.log_tail()
        );
        let status = home.client_status();
        if ready(&status) {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {patience:?} waiting for {what}; last status: {status}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts the routine over the socket; the status in the reply. Sent
/// directly rather than with the client, whose reply timeout an
/// unoptimised build, decoding the voice pack, can overrun.
fn start(home: &Home) -> Value {
    Connection::open(&home.socket(), START_PATIENCE).ok(start_request(ROUTINE))
}

/// Subscribes to the daemon's updates and waits until `count` cues have
/// been spoken.
fn wait_for_cues(home: &Home, count: usize) {
    let mut updates = home.connect();
    updates.ok(request("subscribe"));
    let mut spoken = 0;
    let deadline = Instant::now() + PATIENCE;
    while spoken < count {
        assert!(Instant::now() < deadline, "only {spoken} cues were spoken");
        let update = updates.reply().expect("the daemon closed the subscription");
        assert_ne!(update["reply"], "error", "{update}");
        if update["cue"].is_object() {
            spoken += 1;
        }
    }
}

fn state(status: &Value) -> &str {
    status["state"].as_str().unwrap_or_default()
}

fn message(status: &Value) -> String {
    status["message"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase()
}

/// Starts the routine, waits until it is running and a few cues were
/// spoken, kills the sound server and waits until the session is paused
/// for it. The status then.
fn lose_sound_mid_session(home: &Home, daemon: &mut Daemon) -> Value {
    let started = start(home);
    assert_eq!(state(&started), "running", "{started}");
    wait_for_cues(home, 3);
    assert!(
        home.sound_server().hears_sound(0.01, PATIENCE),
        "the session was not heard on the sound server; the daemon's log:\n{}",
        daemon.log_tail()
    );

    home.sound_server().kill(PATIENCE);
    let paused = wait_status(
        home,
        "the session to pause for the lost sound output",
        NOTICE,
        daemon,
        |s| state(s) == "paused" && message(s).contains("sound output"),
    );
    assert!(message(&paused).contains("lost"), "{paused}");
    // paused where it was: the position does not move on
    let elapsed = paused["elapsed_ms"].as_u64().expect("elapsed_ms");
    assert!(elapsed > 0, "{paused}");
    let again = wait_status(home, "a second status", PATIENCE, daemon, |_| true);
    assert_eq!(state(&again), "paused", "{again}");
    assert_eq!(again["elapsed_ms"].as_u64(), Some(elapsed), "{again}");
    assert_eq!(again["routine"], paused["routine"]);
    paused
}

#[test]
fn a_lost_sound_output_pauses_the_session_and_resume_carries_on_once_it_is_back() {
    let home = home("[audio]\nauto_resume = false\n");
    let mut daemon = home.daemon();
    let paused = lose_sound_mid_session(&home, &mut daemon);

    // with the server still away, resume is refused and nothing changes
    let output = home.run(&["resume"]);
    assert!(!output.status.success(), "resume without sound succeeded");
    assert_eq!(state(&home.client_status()), "paused");

    home.sound_server().restart();
    let back = wait_status(
        &home,
        "the daemon to find the sound output again",
        NOTICE,
        &mut daemon,
        |s| message(s).contains("back"),
    );
    assert_eq!(state(&back), "paused", "{back}");
    assert_eq!(back["elapsed_ms"], paused["elapsed_ms"], "{back}");

    let output = home.run(&["resume"]);
    assert!(
        output.status.success(),
        "resume: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(state(&home.client_status()), "running");
    assert!(
        home.sound_server().hears_sound(0.01, PATIENCE),
        "nothing was heard after resuming; the daemon's log:\n{}",
        daemon.log_tail()
    );
    let later = wait_status(
        &home,
        "the session to move on",
        PATIENCE,
        &mut daemon,
        |s| s["elapsed_ms"].as_u64() > paused["elapsed_ms"].as_u64(),
    );
    assert_eq!(state(&later), "running", "{later}");
}

/// By default (`[audio] auto_resume`) a session paused because its sound
/// output was lost resumes by itself once the output is back, saying so.
#[test]
fn by_default_the_session_resumes_by_itself_once_sound_is_back_saying_resuming() {
    let home = home("");
    let mut daemon = home.daemon();
    let paused = lose_sound_mid_session(&home, &mut daemon);
    let mut updates = home.connect();
    updates.ok(request("subscribe"));

    home.sound_server().restart();
    let resumed = wait_status(
        &home,
        "the session to resume by itself",
        NOTICE,
        &mut daemon,
        |s| state(s) == "running",
    );
    assert!(message(&resumed).contains("back"), "{resumed}");
    // what the voice said first
    let said = loop {
        let update = updates.reply().expect("the daemon closed the subscription");
        if update["cue"].is_object() {
            break update["cue"].clone();
        }
    };
    assert_eq!(said["kind"], "resume", "{said}");
    assert!(
        said["text"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Resuming"),
        "{said}"
    );
    assert!(
        home.sound_server().hears_sound(0.01, PATIENCE),
        "nothing was heard after the session resumed; the daemon's log:\n{}",
        daemon.log_tail()
    );
    let later = wait_status(
        &home,
        "the session to move on",
        PATIENCE,
        &mut daemon,
        |s| s["elapsed_ms"].as_u64() > paused["elapsed_ms"].as_u64(),
    );
    assert_eq!(state(&later), "running", "{later}");
}

/// Opening the sound output can take many seconds: here a sound server
/// accepts connections and never answers. The daemon answers meanwhile;
/// the session counts as running but stands still at its start until the
/// output is ready.
#[test]
fn the_daemon_answers_while_the_sound_output_opens() {
    let home = Home::new().bundled_routines().patience(PATIENCE);
    let silent = home.path().join("silent-sound-server");
    let listener = std::os::unix::net::UnixListener::bind(&silent).unwrap();
    listener.set_nonblocking(true).unwrap();
    let mut command = home.command(&["daemon"]);
    command.env("PULSE_SERVER", format!("unix:{}", silent.display()));
    let _daemon = home.daemon_with(command);
    let routine =
        std::path::Path::new(crate::daemon::ROOT).join(format!("routines/{ROUTINE}.toml"));
    let started = home.ok(start_request(&routine));
    assert_eq!(state(&started), "running", "{started}");
    // hold every connection the daemon opens, answering none
    let mut held = Vec::new();
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(500));
        while let Ok((stream, _)) = listener.accept() {
            held.push(stream);
        }
        let asked = Instant::now();
        let status = home.status();
        assert!(
            asked.elapsed() < Duration::from_secs(2),
            "status took {:?} while the output opened",
            asked.elapsed()
        );
        assert_eq!(state(&status), "running", "{status}");
        assert_eq!(status["elapsed_ms"], 0, "{status}");
        assert!(message(&status).contains("opening"), "{status}");
    }
    assert!(!held.is_empty(), "the daemon never tried the sound server");
}

/// Counts every 1.3 s. No stall below lasts a whole number of beats, and
/// each begins at a set point of a beat, so a count that a stall made late
/// (or the rest of one it cut off) would sound at least 250 ms off the
/// beat, where no count is planned.
const COUNTS: &str = r#"
name = "Counts"
[[step]]
name = "Stroking"
reps = 45
tempo = "1300ms"
"#;

/// How far a sound found on the recording may be from where it should
/// be, for the measuring alone: where a word's first loud sample lies in
/// its clip, and the fit of the recording's time to the session's.
const MEASURING_MS: f64 = 40.0;

/// Where in a beat a stall begins.
#[derive(Debug, Clone, Copy)]
enum StallAt {
    /// 100 ms before a count is due: its clip is handed to the output and
    /// waits there to start.
    Queued,
    /// 150 ms after a count was due: its clip is sounding.
    MidClip,
}

/// A stall as it happened, in session time (ms).
#[derive(Debug)]
struct Stall {
    secs: u64,
    at: StallAt,
    from: f64,
    to: f64,
}

/// The daemon's log from the session's start, without the sound
/// backend's repeated lines.
fn log_tail(log: &str) -> String {
    let from = log.rfind("preparing session").unwrap_or(0);
    log[from..]
        .lines()
        .filter(|l| !l.starts_with("ALSA lib"))
        .take(80)
        .collect::<Vec<_>>()
        .join("\n")
}

/// The session's position now (ms), from a status asked over the socket.
fn position(home: &Home) -> (f64, Instant) {
    let asked = Instant::now();
    let status = home.status();
    let mid = asked + asked.elapsed() / 2;
    assert_eq!(state(&status), "running", "{status}");
    (status["elapsed_ms"].as_f64().expect("elapsed_ms"), mid)
}

/// The constant that takes session time to recording time: the one that
/// puts the most onsets within `MEASURING_MS` of a planned cue.
fn fit(onsets: &[f64], planned: &[f64]) -> f64 {
    let mut best = (0, f64::MAX, 0.0);
    for o in onsets.iter().take(12) {
        for p in planned {
            let c = o - p;
            let near: Vec<f64> = onsets
                .iter()
                .filter_map(|o| {
                    planned
                        .iter()
                        .map(|p| o - c - p)
                        .find(|d| d.abs() <= MEASURING_MS)
                })
                .collect();
            let spread = near.iter().map(|d| d.abs()).sum::<f64>();
            if near.len() > best.0 || (near.len() == best.0 && spread < best.1) {
                best = (near.len(), spread, c);
            }
        }
    }
    best.2
}

/// The whole process of the daemon stopped (SIGSTOP) mid-count for 1, 2,
/// 5 and 10 s, then continued: the session is not taken for one whose
/// sound output was lost (it goes on, never pausing itself, and the daemon
/// never logs the output lost).
#[test]
fn a_stalled_daemon_never_takes_the_stall_for_a_lost_output() {
    stall_the_daemon(false);
}

/// As above, measured on the recording of the sound server's sink, not on
/// the log: no count is heard more than `STALE_AFTER` after its planned
/// time (the counts due during the stall, and the rest of one it cut off,
/// are dropped rather than said late); and the counts after the stall are
/// on the beat again.
#[test]
#[ignore = "does not hold yet through the ALSA plugin for PulseAudio: after the daemon continues, \
            the device asks for audio briefly, then stands still for about 2 s more, so the \
            counts of those 2 s are dropped (not heard), and once a count was heard 355 ms late \
            after a 10 s stall"]
fn a_stalled_daemon_drops_the_counts_due_meanwhile_and_is_on_the_beat_after() {
    stall_the_daemon(true);
}

fn stall_the_daemon(analyse: bool) {
    let home = home("");
    let routine = home.routine("counts.toml", COUNTS);
    let plan = home.plan_json(&[routine.to_str().unwrap()]);
    let planned: Vec<f64> = plan["cues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["at_ms"].as_f64().unwrap())
        .collect();
    let counts: Vec<f64> = plan["cues"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == "count")
        .map(|c| c["at_ms"].as_f64().unwrap())
        .collect();
    assert!(counts.len() >= 40, "{plan}");
    let mut daemon = home.daemon();
    let recorder = Recorder::start_on(&home.path().join("stalls.wav"), home.sound_server());
    let started = Connection::open(&home.socket(), START_PATIENCE).ok(start_request(&routine));
    assert_eq!(state(&started), "running", "{started}");
    wait_status(&home, "three counts", PATIENCE, &mut daemon, |s| {
        s["elapsed_ms"].as_f64().is_some_and(|e| e > counts[2])
    });

    let mut stalls = Vec::new();
    for (secs, at) in [
        (1, StallAt::Queued),
        (2, StallAt::MidClip),
        (5, StallAt::Queued),
        (10, StallAt::MidClip),
    ] {
        let (pos, asked) = position(&home);
        let count = counts
            .iter()
            .copied()
            .find(|&c| c > pos + 600.0)
            .expect("counts enough for every stall");
        let from = match at {
            StallAt::Queued => count - 100.0,
            StallAt::MidClip => count + 150.0,
        };
        let when = asked + Duration::from_secs_f64((from - pos) / 1000.0);
        std::thread::sleep(when.saturating_duration_since(Instant::now()));
        let stopped = Instant::now();
        daemon.signal(rustix::process::Signal::STOP);
        std::thread::sleep(Duration::from_secs(secs));
        daemon.signal(rustix::process::Signal::CONT);
        let stalled = stopped.elapsed().as_secs_f64() * 1000.0;
        stalls.push(Stall {
            secs,
            at,
            from,
            to: from + stalled,
        });
        // three beats on: still running, never paused for its sound
        std::thread::sleep(Duration::from_millis(3 * 1300));
        let status = home.client_status();
        assert_eq!(
            state(&status),
            "running",
            "after a stall of {secs} s: {status}; the log:\n{}",
            daemon.log_tail()
        );
        assert!(!message(&status).contains("lost"), "{status}");
    }
    let (samples, rate) = recorder.stop();
    let log = daemon.log();
    assert!(
        !log.contains("the sound output was lost"),
        "the daemon took a stall for a lost output:\n{}",
        daemon.log_tail()
    );
    home.simple("stop");
    if !analyse {
        return;
    }

    let onsets = Detector {
        threshold: 0.02,
        min_gap_ms: 150.0,
    }
    .onsets_ms(&samples, rate);
    let c = fit(&onsets, &planned);
    let last = stalls.last().expect("stalls").to + 3.0 * 1300.0;
    let stale = massage_cue::session::STALE_AFTER as f64;
    let mut off_beat = Vec::new();
    for o in &onsets {
        let at = o - c;
        if at > last {
            break;
        }
        // the cue it sounds for: the last planned at or before it (allowing
        // for the measuring)
        let Some(p) = planned.iter().copied().rfind(|p| *p <= at + MEASURING_MS) else {
            off_beat.push(format!("a sound at {at:.0} ms, before any cue"));
            continue;
        };
        let late = at - p;
        if late > stale + MEASURING_MS {
            let stall = stalls.iter().find(|s| s.from <= at && at <= s.to + 2_000.0);
            off_beat.push(format!(
                "a sound at {at:.0} ms, {late:.0} ms after the cue planned at {p:.0} ms \
                 (stall: {stall:?})"
            ));
        }
    }
    assert!(
        off_beat.is_empty(),
        "sounds heard later than {stale} ms after their cue:\n{}\nstalls: {stalls:?}\nonsets \
         (session ms): {:?}; the daemon's log:\n{}",
        off_beat.join("\n"),
        onsets.iter().map(|o| (o - c).round()).collect::<Vec<_>>(),
        log_tail(&log)
    );
    // after each stall the counts are on the beat again, from the first
    // one planned half a second after it
    for (i, stall) in stalls.iter().enumerate() {
        let until = stalls.get(i + 1).map_or(last, |s| s.from);
        let due: Vec<f64> = counts
            .iter()
            .copied()
            .filter(|p| *p > stall.to + 500.0 && *p < until - 100.0)
            .collect();
        assert!(due.len() >= 2, "{stall:?}: {due:?}");
        let missing: Vec<f64> = due
            .iter()
            .copied()
            .filter(|p| !onsets.iter().any(|o| (o - c - p).abs() <= MEASURING_MS))
            .collect();
        assert!(
            missing.is_empty(),
            "after the stall of {} s ({:?}, {:.0}-{:.0} ms), the counts planned at {missing:?} \
             ms were not heard on the beat; onsets (session ms): {:?}; the daemon's log:\n{}",
            stall.secs,
            stall.at,
            stall.from,
            stall.to,
            onsets.iter().map(|o| (o - c).round()).collect::<Vec<_>>(),
            log_tail(&log)
        );
    }
}

/// A session started while the sound server is away runs as text, and
/// sounds as soon as the server is back, with nothing asked of the user.
#[test]
fn a_session_started_without_a_sound_server_sounds_once_it_is_back() {
    let home = home("");
    let mut daemon = home.daemon();
    home.sound_server().stop();
    let started = start(&home);
    assert_eq!(state(&started), "running", "{started}");
    let text = wait_status(
        &home,
        "the session to run as text",
        PATIENCE,
        &mut daemon,
        |s| message(s).contains("no sound") && s["elapsed_ms"].as_u64() > Some(1_000),
    );
    assert_eq!(state(&text), "running", "{text}");

    home.sound_server().restart();
    assert!(
        home.sound_server().hears_sound(0.01, NOTICE),
        "nothing was heard once the sound server was back; the daemon's log:\n{}",
        daemon.log_tail()
    );
    let back = home.client_status();
    assert_eq!(state(&back), "running", "{back}");
    assert!(message(&back).contains("back"), "{back}");
}

/// The daemon is started with `RUST_LOG=info`, as the client starts it:
/// after a session that played and was stopped, its log holds only its own
/// lines. The audio libraries and the Ogg demuxer log at `info` for every
/// clip and stream, and a stream being closed reports errors by the
/// thousand: none of that reaches the log.
#[test]
fn after_a_session_the_daemon_log_holds_no_line_from_another_crate() {
    let home = home("");
    let mut daemon = home.daemon();
    let started = start(&home);
    assert_eq!(state(&started), "running", "{started}");
    wait_for_cues(&home, 3);
    assert!(
        home.sound_server().hears_sound(0.01, PATIENCE),
        "the session was not heard; the daemon's log:\n{}",
        daemon.log_tail()
    );
    home.simple("stop");
    // the stream closes after the stop
    std::thread::sleep(Duration::from_millis(1_000));
    assert!(daemon.alive());
    let log = daemon.log();
    let theirs: Vec<&str> = log
        .lines()
        .filter(|line| {
            // "2026-12-01T22:00:00.123456Z  INFO massage_cue::daemon: ..."
            let mut words = line.split_whitespace();
            let stamped = words.next().is_some_and(|w| w.ends_with('Z'));
            let level = words.next().unwrap_or_default();
            let target = words.next().unwrap_or_default();
            !(stamped
                && ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"].contains(&level)
                && (target == "massage_cue:" || target.starts_with("massage_cue::")))
        })
        .collect();
    assert!(
        log.lines().any(|l| l.contains("started")),
        "the daemon logged no start of the session:\n{log}"
    );
    assert!(
        theirs.is_empty(),
        "{} lines in the daemon's log are not its own, such as:\n{}",
        theirs.len(),
        theirs[..theirs.len().min(10)].join("\n")
    );
}
