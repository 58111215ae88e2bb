//! Files read and written with limits: the configuration (a regular file
//! of bounded size, and controls that work when it is broken), the speech
//! cache (private), and the systemd unit (no line of a path's choosing);
//! the daemon's memory given back after a session.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::daemon::{BIN, Detached, Home, wait_until};

const PATIENCE: Duration = Duration::from_secs(15);

const COUNTED: &str = r#"
name = "Counted"
[[step]]
name = "Stroking"
reps = 40
tempo = "1s"
"#;

/// Runs `args` with `home`'s environment; its exit code and standard
/// error. One still running after the patience is killed and the test
/// fails: it was waiting on something it must not wait on.
fn run_bounded(home: &Home, args: &[&str], what: &str) -> (Option<i32>, String) {
    let mut child = home
        .command(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + PATIENCE;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: still running after {PATIENCE:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (status.code(), stderr)
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn config_path(home: &Home) -> std::path::PathBuf {
    let dir = home.path().join("config/massage-cue");
    fs::create_dir_all(&dir).unwrap();
    dir.join("config.toml")
}

#[test]
fn a_configuration_that_is_a_pipe_a_device_or_too_large_is_refused_at_once() {
    let home = Home::new().patience(PATIENCE);
    let routine = home.routine("counted.toml", COUNTED);
    let config = config_path(&home);
    let routine = routine.to_str().unwrap();

    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        &config,
        rustix::fs::Mode::from_raw_mode(0o600),
    )
    .unwrap();
    let (code, err) = run_bounded(&home, &["plan", routine], "plan with a FIFO as config");
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("not a regular file"), "{err}");
    assert!(err.contains("config.toml"), "{err}");
    fs::remove_file(&config).unwrap();

    std::os::unix::fs::symlink("/dev/zero", &config).unwrap();
    let (code, err) = run_bounded(&home, &["daemon"], "a daemon with /dev/zero as config");
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("not a regular file"), "{err}");
    fs::remove_file(&config).unwrap();

    // comments only, valid TOML, but larger than any configuration
    fs::write(&config, "# a comment line\n".repeat(5_000)).unwrap();
    let (code, err) = run_bounded(&home, &["plan", routine], "plan with a huge config");
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("larger than 64 KiB"), "{err}");
}

#[test]
fn controls_that_need_only_the_socket_work_with_a_broken_configuration() {
    let home = Home::new().patience(PATIENCE);
    let routine = home.routine("counted.toml", COUNTED);
    let _daemon = home.daemon();
    home.start(&routine);
    home.config("[sesion]\nlevel = \"high\"\n");
    for command in ["pause", "status", "resume", "stop"] {
        let out = home.run(&[command]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{command}: {err}");
        assert!(
            err.contains("warning: ") && err.contains("config.toml:1:"),
            "{command}: {err}"
        );
    }
    assert_eq!(home.status()["state"], "idle");
    // a start needs the configuration: refused, saying where it is wrong
    let out = home.run(&["start", routine.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn the_speech_cache_is_private() {
    let home = Home::new().patience(PATIENCE);
    let routine = home.routine(
        "odd.toml",
        "name = \"Odd\"\n[[step]]\nname = \"Zorbulate the quoxel\"\ntime = \"5s\"\n",
    );
    // an older version's cache folder, open to all
    let cache = home.speech_cache();
    fs::create_dir_all(&cache).unwrap();
    for dir in [&cache, &cache.parent().unwrap().to_owned()] {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).unwrap();
    }
    let tone = home.path().join("tone.wav");
    write_tone(&tone);
    home.config(&format!(
        "[voice]\ncommand = [\"cp\", {:?}, \"{{out}}\"]\n",
        tone.to_str().unwrap()
    ));
    fs::set_permissions(&tone, fs::Permissions::from_mode(0o644)).unwrap();
    let out_wav = home.path().join("out.wav");
    let out = home.run(&[
        "render",
        routine.to_str().unwrap(),
        "-o",
        out_wav.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&cache), 0o700);
    assert_eq!(mode(cache.parent().unwrap()), 0o700);
    let clips: Vec<_> = fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(!clips.is_empty(), "nothing was rendered into the cache");
    for clip in clips {
        assert_eq!(mode(&clip), 0o600, "{}", clip.display());
    }
}

fn write_tone(path: &Path) {
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
fn service_install_from_a_folder_whose_name_holds_a_line_break_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let odd = dir
        .path()
        .join("bin\nExecStartPre=/bin/touch /tmp/injected");
    fs::create_dir_all(&odd).unwrap();
    let exe = odd.join("massage-cue");
    if fs::hard_link(BIN, &exe).is_err() {
        fs::copy(BIN, &exe).unwrap();
    }
    let config_home = dir.path().join("config");
    let output = Command::new(&exe)
        .args(["service", "install"])
        .env("XDG_CONFIG_HOME", &config_home)
        .env("HOME", dir.path().join("home"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(err.contains("line break"), "{err}");
    assert!(
        !err.contains("\nExecStartPre"),
        "the path was printed raw: {err}"
    );
    assert!(
        !config_home
            .join("systemd/user/massage-cue.service")
            .exists(),
        "a unit was written"
    );
}

#[test]
fn a_running_daemon_sets_its_log_aside_past_1_mib() {
    let home = Home::new().patience(PATIENCE);
    let routine = home.routine("counted.toml", COUNTED);
    let routine = routine.to_str().unwrap();
    let output = home.run(&["status", "--json"]);
    assert!(output.status.success());
    let _daemon = Detached(home.daemon_pid());
    let log = home.state_dir().join("daemon.log");
    let old = home.state_dir().join("daemon.log.old");
    wait_until("the daemon's log", PATIENCE, || {
        fs::read_to_string(&log).is_ok_and(|text| text.contains("listening on"))
    });
    // the log grows past 1 MiB while the daemon runs (weeks of sessions, or
    // an hour of warnings while the sound server is away)
    let mut file = fs::OpenOptions::new().append(true).open(&log).unwrap();
    for i in 0..30_000 {
        writeln!(file, "an earlier line of the log, number {i}").unwrap();
    }
    drop(file);
    assert!(fs::metadata(&log).unwrap().len() > 1 << 20);

    // the next line it logs sets the log aside, and a fresh one goes on
    let output = home.run(&["start", routine]);
    assert!(output.status.success(), "{}", stderr(&output));
    wait_until("the log to be set aside", PATIENCE, || old.exists());
    let output = home.run(&["start", "--replace", routine]);
    assert!(output.status.success(), "{}", stderr(&output));
    wait_until("the next lines in a fresh log", PATIENCE, || {
        fs::read_to_string(&log).is_ok_and(|text| text.contains("preparing session 2"))
    });
    let fresh = fs::read_to_string(&log).unwrap();
    assert!(!fresh.contains("an earlier line"), "{fresh}");
    assert!(fresh.len() < 64 * 1024, "{} bytes", fresh.len());
    assert_eq!(
        fs::metadata(&log).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let aside = fs::read_to_string(&old).unwrap();
    assert!(aside.contains("listening on") && aside.contains("number 29999"));
    // and the daemon still answers
    assert!(home.run(&["stop"]).status.success());
}

#[test]
fn the_state_files_are_private_even_under_a_permissive_umask() {
    let home = Home::new().patience(PATIENCE);
    let routine = home.routine("counted.toml", COUNTED);
    // a daemon started where every file would be made world-readable
    let _daemon = home.daemon_logging_to(
        home.command_as("sh", &["-c", &format!("umask 000; exec {BIN} daemon")]),
        Stdio::null(),
    );
    let state = home.state_dir();
    let session = state.join("session.json");
    home.start(&routine);
    wait_until("a saved position", PATIENCE, || session.exists());
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&state), 0o700);
    assert_eq!(mode(&session), 0o600);
    // stopped: a history line and the session kept to be brought back
    home.simple("stop");
    let history = state.join("history.jsonl");
    let last = state.join("last-session.json");
    wait_until("the history and the kept session", PATIENCE, || {
        history.exists() && last.exists()
    });
    for file in [&history, &last] {
        assert_eq!(mode(file), 0o600, "{}", file.display());
    }
}

#[test]
fn the_daemon_runs_with_a_fixed_allocation_threshold_so_clips_memory_goes_back() {
    let home = Home::new().patience(PATIENCE);
    let daemon = home.daemon();
    // it ran itself again in the same process: the pid the fixture started
    assert_eq!(home.daemon_pid(), daemon.pid() as i32);
    let environ = fs::read(format!("/proc/{}/environ", daemon.pid())).unwrap();
    assert!(
        environ
            .split(|&b| b == 0)
            .any(|var| var == b"MALLOC_MMAP_THRESHOLD_=131072"),
        "{}",
        String::from_utf8_lossy(&environ)
    );
}
