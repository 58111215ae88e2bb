//! Hostile input: clients that hold connections open and send nothing or
//! half a line, replies that would outgrow the line limit, routine files
//! that are huge, deeply nested or full of characters that drive or reorder
//! a terminal, and phrases with shell metacharacters on their way to the
//! speech engine. Each test has its own XDG folders.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use massage_cue::protocol::MAX_LINE;

use crate::daemon::{Daemon, Home};

/// How long anything here may take before a test fails.
const PATIENCE: Duration = Duration::from_secs(10);

/// More connections than the daemon serves at once (256).
const HELD: usize = 300;

/// A raw connection to the daemon.
fn connect(home: &Home) -> UnixStream {
    let stream = UnixStream::connect(home.socket()).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream
}

fn open_fds(daemon: &Daemon) -> usize {
    fs::read_dir(format!("/proc/{}/fd", daemon.pid()))
        .unwrap()
        .count()
}

/// Sends one request line and reads one reply line, raw.
fn ask_raw(stream: &mut UnixStream, request: &str) -> String {
    stream.write_all(request.as_bytes()).unwrap();
    stream.write_all(b"\n").unwrap();
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).unwrap();
    line
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn clients_holding_connections_open_never_keep_others_out() {
    let home = Home::new().patience(PATIENCE);
    let daemon = home.daemon();
    // half a request each, and nothing at all: more than the daemon serves
    let mut held = Vec::new();
    for i in 0..2 * HELD {
        let mut stream = connect(&home);
        if i % 2 == 0 {
            stream.write_all(b"{\"version\":1,\"requ").unwrap();
        }
        held.push(stream);
    }

    // a new client is answered at once, not after the others give up
    let mut fresh = connect(&home);
    fresh
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let reply: Value =
        serde_json::from_str(&ask_raw(&mut fresh, r#"{"version":1,"request":"status"}"#))
            .expect("a status reply while other connections are held open");
    assert_eq!(reply["status"]["state"], "idle", "{reply}");
    let output = home.run(&["status", "--json"]);
    assert!(output.status.success(), "{}", stderr(&output));

    // the connection that waited longest was told why it was closed
    let mut first = String::new();
    held[0].read_to_string(&mut first).unwrap();
    assert!(first.contains("to make room"), "{first:?}");
    // and the daemon holds no more than its limit of connections open
    assert!(open_fds(&daemon) < 256 + 64, "{} fds", open_fds(&daemon));
}

#[test]
fn an_error_reply_stays_within_the_line_limit() {
    let home = Home::new().patience(PATIENCE);
    let _daemon = home.daemon();
    // the error quotes the name it could not find: a request line just
    // within the limit makes a reply line beyond it
    let name = "a".repeat(MAX_LINE - 50);
    let mut stream = connect(&home);
    let line = ask_raw(
        &mut stream,
        &format!(r#"{{"version":1,"request":"start","routine":"{name}"}}"#),
    );
    assert!(line.len() <= MAX_LINE, "a reply of {} bytes", line.len());
    let reply: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(reply["kind"], "bad_input", "{reply}");
    assert!(
        reply["message"]
            .as_str()
            .unwrap()
            .starts_with("no routine named `aaa"),
        "{reply}"
    );
}

/// A file of almost 1 MiB that is nothing but unknown keys.
fn many_problems() -> String {
    let mut text = String::from("name = \"Keys\"\n[[step]]\nname = \"A\"\nreps = 2\n");
    let mut i = 0;
    while text.len() < 1_000_000 {
        text.push_str(&format!("key{i} = 1\n"));
        i += 1;
    }
    text
}

#[test]
fn a_routine_with_thousands_of_problems_gets_a_short_clear_error() {
    let home = Home::new().patience(PATIENCE);
    let file = home.routine("keys.toml", &many_problems());
    let output = home.run(&["check", file.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let report = stdout(&output);
    assert!(
        report.lines().count() < 110,
        "{} lines",
        report.lines().count()
    );
    assert!(report.contains("keys.toml:5:1: step[1].key0: unknown key `key0`"));
    assert!(report.contains("more problems from here on are not shown"));

    // the daemon's answer to starting it fits a reply line: bad input
    let _daemon = home.daemon();
    let output = home.run(&["start", file.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("keys.toml:5:1: step[1].key0: unknown key `key0`"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn text_that_drives_or_reorders_a_terminal_never_reaches_it() {
    let home = Home::new().patience(PATIENCE);
    // right-to-left overrides and isolates in names: refused
    let reversed = home.routine(
        "reversed.toml",
        "name = \"Back \u{202e}egassam\"\n[[step]]\nname = \"a\u{2066}b\"\nreps = 2\n",
    );
    let output = home.run(&["check", reversed.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    let report = stdout(&output);
    assert!(
        report.contains("reversed.toml:1:8: name: the text contains the bidirectional control character U+202E at character 6"),
        "{report}"
    );
    assert!(
        report.contains("reversed.toml:3:8: step[1].name:"),
        "{report}"
    );
    assert!(!report.contains('\u{202e}') && !report.contains('\u{2066}'));

    // escape sequences in keys and values are shown escaped
    let escapes = home.routine(
        "escapes.toml",
        "name = \"Fine\"\n\"\\u001b]0;title\\u0007\" = 1\n\"a\u{202e}b\" = 2\n\
         [[step]]\nname = \"A\"\ntime = \"\\u001b[2J\"\n",
    );
    let output = home.run(&["check", escapes.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    let report = stdout(&output);
    assert!(
        report.contains(
            "escapes.toml:2:1: \\u{1b}]0;title\\u{7}: unknown key `\\u{1b}]0;title\\u{7}`"
        ),
        "{report}"
    );
    assert!(report.contains("unknown key `a\\u{202e}b`"), "{report}");
    assert!(
        report.contains("\"\\u{1b}[2J\" is not a duration"),
        "{report}"
    );
    assert!(!report.contains('\u{1b}') && !report.contains('\u{202e}'));

    // right-to-left text is fine
    let hebrew = home.routine(
        "hebrew.toml",
        "name = \"\u{200f}עיסוי גב\"\n[[step]]\nname = \"ליטוף\"\nreps = 2\n",
    );
    let output = home.run(&["check", hebrew.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
}

#[test]
fn huge_and_deeply_nested_files_are_errors_not_crashes() {
    let home = Home::new().patience(PATIENCE);
    let deep = 10_000;
    let files = [
        (
            "arrays.toml",
            format!(
                "name = \"x\"\nv = {}{}\n",
                "[".repeat(deep),
                "]".repeat(deep)
            ),
        ),
        (
            "tables.toml",
            format!(
                "name = \"x\"\nv = {}1{}\n",
                "{a=".repeat(deep),
                "}".repeat(deep)
            ),
        ),
        (
            "dotted.toml",
            format!("name = \"x\"\n{} = 1\n", vec!["a"; deep].join(".")),
        ),
        (
            "header.toml",
            format!("name = \"x\"\n[{}]\n", vec!["a"; deep].join(".")),
        ),
        (
            "huge.toml",
            format!("name = \"x\"\n{}", "# padding\n".repeat(120_000)),
        ),
    ];
    for (name, text) in files {
        let file = home.routine(name, &text);
        let output = home.run(&["check", file.to_str().unwrap()]);
        // a stack overflow would end the process with a signal, no code
        assert_eq!(output.status.code(), Some(2), "{name}: {output:?}");
        assert!(
            stdout(&output).starts_with(file.to_str().unwrap()),
            "{name}: {}",
            stdout(&output)
        );
    }
}

#[test]
fn phrases_with_shell_metacharacters_reach_the_speech_engine_as_one_argument() {
    let home = Home::new().patience(PATIENCE);
    let marks = home.path().join("marks");
    fs::create_dir(&marks).unwrap();
    let m = marks.display();
    let phrases = [
        format!("Now $(touch {m}/dollar)"),
        format!("Then `touch {m}/backtick`"),
        format!("Rest; touch {m}/semicolon"),
        format!("It's \"quoted\" | touch {m}/pipe && touch {m}/and > {m}/redirect"),
    ];
    // a speech engine that records its arguments and writes a short WAV
    let wav = home.path().join("word.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 22_050,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(&wav, spec).unwrap();
    for i in 0..4_410 {
        let s = (i as f32 * 0.1).sin() * 8_000.0;
        writer.write_sample(s as i16).unwrap();
    }
    writer.finalize().unwrap();
    let args_log = home.path().join("args.log");
    let engine = home.path().join("engine");
    fs::write(
        &engine,
        format!(
            "#!/bin/sh\nprintf '%s\\0' \"$@\" >> '{}'\ncp '{}' \"$1\"\n",
            args_log.display(),
            wav.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&engine, fs::Permissions::from_mode(0o755)).unwrap();
    let config = home.path().join("config/massage-cue");
    fs::create_dir_all(&config).unwrap();
    fs::write(
        config.join("config.toml"),
        format!(
            "[voice]\ncommand = [{:?}, \"{{out}}\", \"{{text}}\"]\n",
            engine.to_str().unwrap()
        ),
    )
    .unwrap();
    let mut routine = String::from("name = \"Shell\"\n");
    for phrase in &phrases {
        routine.push_str(&format!("[[step]]\nname = {phrase:?}\nreps = 1\n"));
    }
    let routine = home.routine("shell.toml", &routine);

    let out = home.path().join("session.wav");
    let output = home.run(&[
        "render",
        routine.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(fs::read_dir(&marks).unwrap().count(), 0, "a shell ran");
    let log = fs::read_to_string(&args_log).expect("the engine ran");
    let args: Vec<&str> = log.split('\0').collect();
    for phrase in &phrases {
        assert!(
            args.iter().any(|arg| arg.contains(phrase.as_str())),
            "{phrase:?} is not one argument of {args:?}"
        );
    }
}

#[test]
fn a_symlink_in_place_of_the_lock_file_is_never_written_through() {
    let home = Home::new().patience(PATIENCE);
    let victim = home.path().join("victim");
    fs::write(&victim, "untouched\n").unwrap();
    std::os::unix::fs::symlink(&victim, home.path().join("run/massage-cue.sock.lock")).unwrap();
    let output = home.run(&["daemon"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("cannot take the daemon lock"),
        "{}",
        stderr(&output)
    );
    assert_eq!(fs::read_to_string(&victim).unwrap(), "untouched\n");
    assert!(!home.socket().exists());
}

#[test]
fn a_symlink_in_place_of_a_save_or_its_temporary_file_is_replaced_not_written_through() {
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("session.json");
    let victims = [dir.path().join("victim-1"), dir.path().join("victim-2")];
    for victim in &victims {
        fs::write(victim, "untouched\n").unwrap();
    }
    std::os::unix::fs::symlink(&victims[0], &saved).unwrap();
    std::os::unix::fs::symlink(&victims[1], dir.path().join("session.json.tmp")).unwrap();
    massage_cue::state::write_atomic(&saved, b"{}\n").unwrap();
    for victim in &victims {
        assert_eq!(fs::read_to_string(victim).unwrap(), "untouched\n");
    }
    assert!(fs::symlink_metadata(&saved).unwrap().is_file());
    assert_eq!(fs::read_to_string(&saved).unwrap(), "{}\n");
    assert!(!dir.path().join("session.json.tmp").exists());
}

#[test]
fn a_pipe_or_a_device_named_as_a_routine_is_refused_at_once() {
    let home = Home::new().patience(PATIENCE);
    let fifo = home.path().join("pipe.toml");
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::RWXU,
        0,
    )
    .unwrap();
    for file in [fifo.as_path(), Path::new("/dev/zero"), home.path()] {
        let mut child = home
            .command(&["check", file.to_str().unwrap()])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + PATIENCE;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("`check {}` did not finish", file.display());
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let mut report = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut report)
            .unwrap();
        assert_eq!(status.code(), Some(2), "{}: {report}", file.display());
        assert!(report.contains("not a regular file"), "{report}");
    }
}

/// Under load the session task may wake late; each clip is handed to the
/// output ahead of its deadline (which the output keeps to the sample), so
/// a late wake-up within that time does not move the cue.
#[test]
fn cues_are_handed_over_ahead_of_their_deadline_and_dropped_only_when_stale() {
    use massage_cue::plan::{self, Options};
    use massage_cue::routine::parse_routine;
    use massage_cue::session::{Due, STALE_AFTER, Session};
    use std::sync::Arc;

    let routine = parse_routine(
        "name = \"Counts\"\n[[step]]\nname = \"Press\"\nreps = 5\ntempo = \"2s\"\n",
        Path::new("counts.toml"),
    )
    .unwrap();
    let plan = plan::plan(
        &routine,
        &Options::default(),
        &massage_cue::speech::Estimate,
    )
    .unwrap();
    let start = 10_000;
    let mut session = Session::start(Arc::new(plan), start);
    assert_eq!(session.due_ahead(start, 250), Due::Play(0));
    let second = session.deadline(1).unwrap();
    // nothing yet 250 ms and more before the deadline; the wait ends there
    assert_eq!(
        session.due_ahead(second - 400, 250),
        Due::Wait(second - 250)
    );
    // within 250 ms of it, the cue is due, for playing on its deadline
    assert_eq!(session.due_ahead(second - 250, 250), Due::Play(1));
    // a wake-up later than the stale limit still drops the cue
    let third = session.deadline(2).unwrap();
    assert!(matches!(
        session.due_ahead(third + STALE_AFTER + 1, 250),
        Due::Play(3) | Due::Wait(_)
    ));
    assert_eq!(session.dropped(), 1);
}
