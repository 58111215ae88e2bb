//! The daemon as a real process on a real socket: start-up and the lock,
//! the socket's safety, bad input on the wire, signals, saved sessions and
//! the history file. Every test has its own XDG folders.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use rustix::process::{Pid, Signal};
use serde_json::Value;

use massage_cue::history::{Entry, History};
use massage_cue::plan;
use massage_cue::protocol::MAX_LINE;
use massage_cue::state::{self, SavedOptions, SavedSession, StateFile};

use crate::daemon::{BIN, Connection, Detached, Home, request, start_request, wait_until};

/// How long anything here may take before a test fails.
const PATIENCE: Duration = Duration::from_secs(10);

/// A small routine: two counted steps of 2-second repetitions.
const ROUTINE: &str = r#"
name = "Test routine"
[[step]]
name = "Stroking"
reps = 30
tempo = "2s"
[[step]]
name = "Kneading"
reps = 30
tempo = "2s"
"#;

/// A user's folders with [`ROUTINE`] in `test-routine.toml`.
fn home() -> Home {
    let home = Home::new().patience(PATIENCE);
    home.routine("test-routine.toml", ROUTINE);
    home
}

fn test_routine(home: &Home) -> PathBuf {
    home.path().join("test-routine.toml")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn the_daemon_starts_and_answers_status() {
    let home = home();
    let _daemon = home.daemon();
    let status = home.connect().status();
    assert_eq!(status["state"], "idle");
    for key in [
        "routine",
        "step",
        "step_name",
        "rep",
        "reps",
        "elapsed_ms",
        "remaining_ms",
    ] {
        assert!(status.get(key).is_some(), "{key} missing: {status}");
    }

    let output = home.run(&["status", "--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let json: Value = serde_json::from_str(stdout(&output).trim()).unwrap();
    assert_eq!(json["state"], "idle");
    let output = home.run(&["status"]);
    assert_eq!(stdout(&output), "idle: no session\n");
}

#[test]
fn a_client_starts_a_detached_daemon_when_none_runs() {
    let home = home();
    assert!(!home.socket().exists());
    let output = home.run(&["status", "--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let json: Value = serde_json::from_str(stdout(&output).trim()).unwrap();
    assert_eq!(json["state"], "idle");

    let pid = home.daemon_pid();
    let _guard = Detached(pid);
    // detached: the leader of a session of its own, logging to the state folder
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat.rsplit_once(") ").unwrap().1.split(' ').collect();
    assert_eq!(fields[3], pid.to_string(), "session id of {stat}");
    let log = home.state_dir().join("daemon.log");
    wait_until("the daemon's log", PATIENCE, || {
        fs::read_to_string(&log).is_ok_and(|text| text.contains("listening on"))
    });
    let log_mode = fs::metadata(&log).unwrap().permissions().mode();
    assert_eq!(log_mode & 0o777, 0o600);

    let reply = home.connect().ask(request("shutdown"));
    assert_eq!(reply["reply"], "ok", "{reply}");
    wait_until("the detached daemon to exit", PATIENCE, || {
        rustix::process::test_kill_process(Pid::from_raw(pid).unwrap()).is_err()
            || fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z "))
    });
    assert!(!home.socket().exists());
}

#[test]
fn a_second_daemon_refuses_while_the_first_lives() {
    let home = home();
    let mut first = home.daemon();
    let inode = fs::metadata(home.socket()).unwrap().ino();

    let output = home.run(&["daemon"]);
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(message.contains("already running"), "{message}");
    assert!(
        message.contains(&format!("pid {}", first.child.id())),
        "{message}"
    );

    assert!(first.alive());
    assert_eq!(fs::metadata(home.socket()).unwrap().ino(), inode);
    assert_eq!(home.connect().status()["state"], "idle");
}

#[test]
fn a_stale_socket_from_a_dead_daemon_is_replaced() {
    let home = home();
    // a socket file nobody listens on, as a killed daemon leaves it
    drop(UnixListener::bind(home.socket()).unwrap());
    assert!(UnixStream::connect(home.socket()).is_err());
    let _daemon = home.daemon();
    assert_eq!(home.connect().status()["state"], "idle");
}

#[test]
fn a_daemon_killed_outright_is_replaced_and_its_session_comes_back_paused() {
    let home = home();
    let mut daemon = home.daemon();
    let mut line = home.connect();
    let status = line.ok(start_request(test_routine(&home)));
    assert_eq!(status["state"], "running");
    daemon.signal(Signal::KILL);
    daemon.wait();
    assert!(home.socket().exists(), "a killed daemon leaves its socket");

    let _daemon = home.daemon();
    let status = home.connect().status();
    assert_eq!(status["state"], "paused", "{status}");
    assert_eq!(status["routine"], "Test routine");
    assert!(
        status["message"].as_str().unwrap().contains("interrupted"),
        "{status}"
    );
}

#[test]
fn something_else_at_the_socket_path_is_never_removed() {
    let home = home();
    fs::write(home.socket(), "not a socket").unwrap();
    let output = home.run(&["daemon"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("is not a socket"),
        "{}",
        stderr(&output)
    );
    assert_eq!(fs::read_to_string(home.socket()).unwrap(), "not a socket");
}

#[test]
fn the_socket_is_private_whatever_the_umask() {
    let home = home();
    let _daemon =
        home.daemon_with(home.command_as("sh", &["-c", &format!("umask 000; exec {BIN} daemon")]));
    let socket = home.socket();
    let meta = fs::symlink_metadata(&socket).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let lock = fs::metadata(home.path().join("run/massage-cue.sock.lock")).unwrap();
    assert_eq!(lock.permissions().mode() & 0o777, 0o600);
}

#[test]
fn a_malformed_request_gets_an_error_and_the_connection_goes_on() {
    let home = home();
    let _daemon = home.daemon();
    let mut line = home.connect();
    for bad in [
        "{not json\n",
        "[1,2,3]\n",
        "{\"version\":1,\"request\":\"dance\"}\n",
        "{\"version\":7,\"request\":\"status\"}\n",
        "{\"request\":\"status\"}\n",
        "\n",
    ] {
        line.send_raw(bad.as_bytes());
        let reply = line.reply().expect("a reply");
        assert_eq!(reply["reply"], "error", "{bad:?}: {reply}");
        assert_eq!(reply["kind"], "bad_request", "{bad:?}: {reply}");
    }
    assert_eq!(line.status()["state"], "idle");
    let reply = line.ask(request("pause"));
    assert_eq!(reply["kind"], "not_now", "{reply}");
    let reply = line.ask(start_request("no-such-routine"));
    assert_eq!(reply["kind"], "bad_input", "{reply}");
}

#[test]
fn an_oversized_line_is_refused_and_the_daemon_goes_on() {
    let home = home();
    let _daemon = home.daemon();
    let mut line = home.connect();
    let big = vec![b'x'; MAX_LINE + 10_000];
    // the daemon may close before reading it all
    let _ = line.writer.write_all(&big);
    let reply = line.reply().expect("an error reply before closing");
    assert_eq!(reply["kind"], "bad_request");
    assert!(
        reply["message"].as_str().unwrap().contains("longer than"),
        "{reply}"
    );
    assert!(line.closed());
    assert_eq!(home.connect().status()["state"], "idle");
}

#[test]
fn a_half_sent_line_never_harms_the_daemon() {
    let home = home();
    let _daemon = home.daemon();

    // held open while another client is served, then dropped
    let mut held = home.connect();
    held.send_raw(b"{\"version\":1,\"requ");
    assert_eq!(home.connect().status()["state"], "idle");
    drop(held);
    assert_eq!(home.connect().status()["state"], "idle");

    // cut short by the client closing its side: told so
    let mut cut = home.connect();
    cut.send_raw(b"{\"version\":1,\"request\":\"status\"}");
    cut.writer.shutdown(std::net::Shutdown::Write).unwrap();
    let reply = cut.reply().expect("a reply");
    assert_eq!(reply["kind"], "bad_request");
    assert!(
        reply["message"].as_str().unwrap().contains("cut short"),
        "{reply}"
    );
    assert_eq!(home.connect().status()["state"], "idle");
}

#[test]
fn two_clients_at_once_and_a_subscriber_sees_what_they_do() {
    let home = home();
    let _daemon = home.daemon();
    let mut a = home.connect();
    let mut b = home.connect();
    let mut watcher = home.connect();
    let first = watcher.ok(request("subscribe"));
    assert_eq!(first["state"], "idle");

    assert_eq!(a.ok(start_request(test_routine(&home)))["state"], "running");
    assert_eq!(b.status()["state"], "running");
    assert_eq!(b.ok(request("pause"))["state"], "paused");
    assert_eq!(a.status()["state"], "paused");

    // the subscriber hears the session being made ready, the start (and
    // maybe cues), then the pause
    let mut states = Vec::new();
    let mut preparing = 0;
    while states.last().map(String::as_str) != Some("paused") {
        let update = watcher.reply().expect("an update");
        assert_eq!(update["reply"], "update", "{update}");
        if !update["status"]["preparing"].is_null() {
            assert!(states.is_empty(), "{update}");
            preparing += 1;
            continue;
        }
        states.push(update["status"]["state"].as_str().unwrap().to_owned());
    }
    assert_eq!(preparing, 1);
    assert_eq!(states.first().map(String::as_str), Some("running"));

    let resumed = a.ask(request("resume"));
    assert_eq!(resumed["status"]["state"], "running", "{resumed}");
    assert!(
        resumed["message"].as_str().unwrap().starts_with("Resuming"),
        "{resumed}"
    );
    assert_eq!(b.ok(request("stop"))["state"], "idle");
}

#[test]
fn the_subscriber_gets_each_cue_as_it_is_spoken() {
    let home = home();
    let _daemon = home.daemon();
    let mut watcher = home.connect();
    watcher.ok(request("subscribe"));
    home.connect().ok(start_request(test_routine(&home)));
    let mut cues = Vec::new();
    while cues.len() < 2 {
        let update = watcher.reply().expect("an update");
        if let Some(cue) = update.get("cue") {
            cues.push(cue["text"].as_str().unwrap().to_owned());
        }
    }
    // the session opens with the routine's name
    assert!(cues[0].contains("Test routine"), "{cues:?}");
}

#[test]
fn sigterm_saves_the_session_removes_the_socket_and_exits_0() {
    for signal in [Signal::TERM, Signal::INT] {
        let home = home();
        let mut daemon = home.daemon();
        let status = home.connect().ok(start_request(test_routine(&home)));
        assert_eq!(status["state"], "running");
        daemon.signal(signal);
        assert_eq!(daemon.wait(), Some(0), "{signal:?}");
        assert!(!home.socket().exists(), "{signal:?}");

        let saved = StateFile::new(home.state_dir().join("session.json"))
            .load()
            .unwrap()
            .expect("a saved session");
        assert_eq!(saved.routine, test_routine(&home).canonicalize().unwrap());
        assert!(saved.paused);

        // the next daemon has it, paused, and carries on when told
        let _daemon = home.daemon();
        let mut line = home.connect();
        let status = line.status();
        assert_eq!(status["state"], "paused", "{status}");
        assert_eq!(status["routine"], "Test routine");
        assert_eq!(line.ok(request("resume"))["state"], "running");
    }
}

#[test]
fn a_shutdown_request_stops_the_daemon() {
    let home = home();
    let mut daemon = home.daemon();
    let reply = home.connect().ask(request("shutdown"));
    assert_eq!(reply["reply"], "ok");
    assert_eq!(daemon.wait(), Some(0));
    assert!(!home.socket().exists());
}

#[test]
fn stopping_a_session_writes_the_history() {
    let home = home();
    let _daemon = home.daemon();
    let mut line = home.connect();
    line.ok(start_request(test_routine(&home)));
    assert_eq!(line.ok(request("stop"))["state"], "idle");
    assert!(!home.state_dir().join("session.json").exists());
    let log = History::new(home.state_dir().join("history.jsonl"))
        .read()
        .unwrap();
    assert_eq!(log.entries.len(), 1);
    assert_eq!(log.entries[0].routine, "Test routine");
    assert!(!log.entries[0].completed);

    let output = home.run(&["history"]);
    assert!(output.status.success());
    assert!(
        stdout(&output).contains("Test routine"),
        "{}",
        stdout(&output)
    );
    assert!(stdout(&output).contains("stopped"), "{}", stdout(&output));
}

#[test]
fn another_user_is_refused() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: running a client as another user needs root");
        return;
    }
    let home = home();
    let _daemon = home.daemon();
    // let `nobody` reach the socket's folder and a copy of the binary
    for dir in [home.path().to_owned(), home.path().join("run")] {
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    }
    let client = home.path().join("massage-cue");
    fs::copy(BIN, &client).unwrap();
    let as_nobody = |home: &Home| {
        home.command_as(
            "setpriv",
            &[
                "--reuid=nobody",
                "--regid=nogroup",
                "--clear-groups",
                client.to_str().unwrap(),
                "status",
                "--json",
            ],
        )
        .output()
        .unwrap()
    };

    // the socket's mode keeps the connection from being made at all
    let output = as_nobody(&home);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("Permission denied"),
        "{}",
        stderr(&output)
    );

    // with the mode opened up, the client sees whose daemon it is and
    // sends it nothing
    fs::set_permissions(home.socket(), fs::Permissions::from_mode(0o666)).unwrap();
    let output = as_nobody(&home);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("is served by a process of user 0, not by you (user 65534)"),
        "{}",
        stderr(&output)
    );
    // and the daemon's own check refuses a client that asks all the same
    let socket = home.socket();
    let reply = std::thread::spawn(move || {
        as_thread_of_nobody();
        // the daemon answers as soon as it sees who connected
        let mut line = Connection::open(&socket, PATIENCE);
        line.reply().expect("a reply")
    })
    .join()
    .unwrap();
    assert_eq!(reply["kind"], "refused", "{reply}");
    assert!(
        reply["message"]
            .as_str()
            .unwrap()
            .contains("user 65534 may not control it"),
        "{reply}"
    );
    // and the owner is still served
    assert_eq!(home.connect().status()["state"], "idle");
}

/// Makes the calling thread (alone: Linux keeps credentials per thread)
/// run as user `nobody` (65534) and group `nogroup`. The kernel gives a
/// socket's peer the credentials of the thread that connected or listened.
fn as_thread_of_nobody() {
    use rustix::process::{Gid, Uid};
    use rustix::thread::{set_thread_groups, set_thread_res_gid, set_thread_res_uid};
    let nobody = Uid::from_raw(65534);
    let nogroup = Gid::from_raw(65534);
    set_thread_groups(&[]).unwrap();
    set_thread_res_gid(nogroup, nogroup, nogroup).unwrap();
    set_thread_res_uid(nobody, nobody, nobody).unwrap();
}

/// A socket at `path` made by a thread running as user `nobody` (65534),
/// as another user squatting a shared folder would: it takes one
/// connection, answers it with a line of terminal escapes and gives back
/// every byte the client sent before hanging up.
fn squatted_socket(path: PathBuf) -> std::thread::JoinHandle<Vec<u8>> {
    use std::io::Read;
    let (bound_tx, bound_rx) = std::sync::mpsc::channel();
    let squatter = std::thread::spawn(move || {
        as_thread_of_nobody();
        let listener = UnixListener::bind(&path).unwrap();
        bound_tx.send(()).unwrap();
        let (mut stream, _) = listener.accept().unwrap();
        // a client that checks hangs up before this is written
        let _ = stream
            .write_all(b"{\"version\":1,\"reply\":\"ok\",\"x\":\"\x1b]0;owned\x07\x1b[2J\"}\n");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut got = Vec::new();
        let _ = stream.read_to_end(&mut got);
        got
    });
    bound_rx.recv_timeout(PATIENCE).unwrap();
    squatter
}

#[test]
fn a_configured_socket_of_another_user_is_sent_nothing() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: a socket of another user needs root to make");
        return;
    }
    let home = home();
    // a shared folder, as /tmp is: everyone may create files in it
    fs::set_permissions(home.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let shared = home.path().join("shared");
    fs::create_dir(&shared).unwrap();
    fs::set_permissions(&shared, fs::Permissions::from_mode(0o1777)).unwrap();
    let socket = shared.join("massage-cue.sock");
    home.config(&format!(
        "[daemon]\nsocket = {:?}\n",
        socket.to_str().unwrap()
    ));
    let squatter = squatted_socket(socket.clone());
    assert_eq!(fs::metadata(&socket).unwrap().uid(), 65534);

    let output = home.run(&["start", test_routine(&home).to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains(&format!(
            "{} is served by a process of user 65534, not by you (user 0); nothing was sent",
            socket.display()
        )),
        "{}",
        stderr(&output)
    );
    let printed = [output.stdout.as_slice(), output.stderr.as_slice()].concat();
    assert!(!printed.contains(&0x1b), "{}", stderr(&output));
    let got = squatter.join().unwrap();
    assert!(
        got.is_empty(),
        "the client sent the other user: {}",
        String::from_utf8_lossy(&got)
    );
}

#[test]
fn a_configured_socket_in_a_folder_others_may_write_is_refused() {
    let home = home();
    let shared = home.path().join("shared");
    fs::create_dir(&shared).unwrap();
    let socket = shared.join("massage-cue.sock");
    home.config(&format!(
        "[daemon]\nsocket = {:?}\n",
        socket.to_str().unwrap()
    ));
    for mode in [0o1777, 0o777, 0o770] {
        fs::set_permissions(&shared, fs::Permissions::from_mode(mode)).unwrap();
        let output = home.run(&["daemon"]);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{mode:o}: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output).contains(&format!(
                "{} is not safe for the socket set by `[daemon] socket`: its mode is {mode:o}",
                shared.display()
            )),
            "{mode:o}: {}",
            stderr(&output)
        );
        assert!(!socket.exists());
    }
    // a folder that only its owner may write in serves
    fs::set_permissions(&shared, fs::Permissions::from_mode(0o755)).unwrap();
    let mut daemon = home
        .command(&["daemon"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let guard = Detached(daemon.id() as i32);
    wait_until("the daemon to listen", PATIENCE, || {
        UnixStream::connect(&socket).is_ok()
    });
    let status = home.run(&["status", "--json"]);
    assert!(status.status.success(), "{}", stderr(&status));
    assert_eq!(
        fs::metadata(&socket).unwrap().permissions().mode() & 0o777,
        0o600
    );
    drop(guard);
    assert!(daemon.wait().unwrap().success());
}

#[test]
fn history_with_a_half_written_last_line_is_read_with_a_warning() {
    let home = home();
    fs::create_dir_all(home.state_dir()).unwrap();
    let history = History::new(home.state_dir().join("history.jsonl"));
    let entry = Entry {
        routine: "Lower back massage".into(),
        path: "/r/lower-back.toml".into(),
        options: SavedOptions::from(&plan::Options::default()),
        started_at_ms: 1_700_000_000_000,
        ended_at_ms: 1_700_000_000_000 + 20 * 60_000,
        steps_completed: 6,
        steps: 6,
        completed: true,
        note: None,
        heard_ms: None,
        work_ms: None,
    };
    history.append(&entry).unwrap();
    let mut file = fs::OpenOptions::new()
        .append(true)
        .open(history.path())
        .unwrap();
    file.write_all(b"{\"routine\":\"Lower back mas").unwrap();
    drop(file);

    let output = home.run(&["history"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        "2023-11-14T22:13:20Z  Lower back massage  20m  6/6 steps  completed\n"
    );
    assert!(
        stderr(&output).contains("warning: ")
            && stderr(&output).contains("history.jsonl:2: ignoring a half-written last line"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_saved_session_survives_a_crash_in_the_middle_of_a_save() {
    let home = home();
    fs::create_dir_all(home.state_dir()).unwrap();
    let file = StateFile::new(home.state_dir().join("session.json"));
    file.save(&SavedSession {
        format: state::FORMAT,
        routine: test_routine(&home),
        options: SavedOptions::from(&plan::Options::default()),
        offset_ms: 0,
        paused: false,
        started_at_ms: state::unix_ms_now(),
        routine_sha256: None,
        changes: state::Changes::default(),
        heard: Vec::new(),
        ended_at_ms: None,
    })
    .unwrap();
    // the next save was cut off after writing half its temporary file
    let stray = home.state_dir().join("session.json.tmp");
    fs::write(&stray, b"{\"format\":1,\"routine\":\"/nowh").unwrap();

    let _daemon = home.daemon();
    let status = home.connect().status();
    assert_eq!(status["state"], "paused", "{status}");
    assert_eq!(status["routine"], "Test routine");
    assert!(!stray.exists(), "the stray temporary file is cleared away");
}

#[test]
fn an_idle_daemon_does_not_wake_up() {
    let home = home();
    let daemon = home.daemon();
    home.connect().status();
    let switches = || -> u64 {
        let tasks = fs::read_dir(format!("/proc/{}/task", daemon.child.id())).unwrap();
        tasks
            .flatten()
            .filter_map(|task| fs::read_to_string(task.path().join("status")).ok())
            .flat_map(|status| {
                status
                    .lines()
                    .filter(|l| l.contains("ctxt_switches"))
                    .filter_map(|l| l.split_whitespace().last()?.parse::<u64>().ok())
                    .collect::<Vec<_>>()
            })
            .sum()
    };
    // let the last request's work settle
    std::thread::sleep(Duration::from_millis(200));
    let before = switches();
    std::thread::sleep(Duration::from_millis(1500));
    let after = switches();
    assert!(
        after - before <= 2,
        "an idle daemon woke up {} times in 1.5 s",
        after - before
    );
}

#[test]
fn without_xdg_runtime_dir_the_socket_is_in_a_private_folder_under_tmpdir() {
    let home = home();
    let tmp = home.path().join("tmp");
    fs::create_dir(&tmp).unwrap();
    let uid = rustix::process::geteuid().as_raw();
    let socket = tmp.join(format!("massage-cue-{uid}/massage-cue.sock"));
    let with_tmp = |args: &[&str]| {
        home.command(args)
            .env_remove("XDG_RUNTIME_DIR")
            .env("TMPDIR", &tmp)
            .output()
            .unwrap()
    };
    let output = with_tmp(&["status", "--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let pid: i32 = fs::read_to_string(socket.with_extension("sock.lock"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let _guard = Detached(pid);
    let meta = fs::metadata(socket.parent().unwrap()).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o700);
    assert_eq!(meta.uid(), uid);
    assert!(Connection::open(&socket, PATIENCE).status()["state"] == "idle");
    Connection::open(&socket, PATIENCE).ask(request("shutdown"));
    wait_until("the socket to go", PATIENCE, || !socket.exists());
}

#[test]
fn a_bad_configuration_is_bad_input_with_file_line_and_column() {
    let home = home();
    let config = home.path().join("config/massage-cue");
    fs::create_dir_all(&config).unwrap();
    fs::write(config.join("config.toml"), "[session]\nlevle = \"low\"\n").unwrap();
    for args in [&["daemon"][..], &["status"][..]] {
        let output = home.run(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let message = stderr(&output);
        assert!(
            message.contains("config.toml:2:1: unknown field `levle`")
                && message.contains("did you mean `level`?"),
            "{args:?}: {message}"
        );
    }
    assert!(!home.socket().exists());
}

#[test]
fn starting_an_unknown_or_broken_routine_is_bad_input() {
    let home = home();
    let _daemon = home.daemon();
    let output = home.run(&["start", "no-such-routine"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("no routine named `no-such-routine`"),
        "{}",
        stderr(&output)
    );

    let broken = home.path().join("broken.toml");
    fs::write(&broken, "name = \"Broken\"\n").unwrap();
    let output = home.run(&["start", broken.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("broken.toml"),
        "{}",
        stderr(&output)
    );

    let output = home.run(&[
        "start",
        "--tempo",
        "9",
        test_routine(&home).to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(home.connect().status()["state"], "idle");
}

#[test]
fn start_follow_shows_the_cues_until_the_session_is_complete() {
    let home = home();
    let tiny = home.path().join("tiny.toml");
    fs::write(
        &tiny,
        "name = \"Tiny\"\n[[step]]\nname = \"Press\"\nreps = 2\ntempo = \"1s\"\n",
    )
    .unwrap();
    let _daemon = home.daemon();
    let output = home
        .command(&["start", tiny.to_str().unwrap(), "--follow"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("running  Tiny"), "{text}");
    assert!(text.contains("Session complete."), "{text}");
    assert!(text.contains("finished  Tiny"), "{text}");

    let log = History::new(home.state_dir().join("history.jsonl"))
        .read()
        .unwrap();
    assert_eq!(log.entries.len(), 1);
    assert!(log.entries[0].completed);
    assert_eq!(log.entries[0].steps_completed, 1);
    assert!(!home.state_dir().join("session.json").exists());
}

#[test]
fn a_waiting_step_waits_until_resume_or_toggle_carries_on() {
    let home = home();
    let routine = home.path().join("waits.toml");
    fs::write(
        &routine,
        r#"
name = "Waits"
[defaults]
change = "0s"
[[step]]
name = "Turn over"
wait = true
[[step]]
name = "Warm up"
wait = true
[[step]]
name = "Stroking"
time = "2s"
"#,
    )
    .unwrap();
    let _daemon = home.daemon();
    let mut line = home.connect();
    line.ok(start_request(&routine));
    let mut status = Value::Null;
    wait_until("the first wait", PATIENCE, || {
        status = line.status();
        status["state"] == "waiting"
    });
    assert_eq!(status["step_name"], "Turn over");
    // it stays waiting: time does not move while it waits
    let elapsed = status["elapsed_ms"].clone();
    std::thread::sleep(Duration::from_millis(1_500));
    let still = line.status();
    assert_eq!(still["state"], "waiting");
    assert_eq!(still["elapsed_ms"], elapsed);
    // resume is the go signal; the next wait is reached at once
    line.ok(request("resume"));
    wait_until("the second wait", PATIENCE, || {
        status = line.status();
        status["state"] == "waiting" && status["step_name"] == "Warm up"
    });
    // toggle is a go signal too, not a pause
    line.ok(request("toggle"));
    wait_until("the stroking", PATIENCE, || {
        status = line.status();
        status["step_name"] == "Stroking" || status["state"] == "idle"
    });
    assert_ne!(status["state"], "paused", "{status}");
}

#[test]
fn next_prev_and_repeat_move_by_side_and_by_step_when_asked() {
    let home = home();
    let routine = home.path().join("sides.toml");
    fs::write(
        &routine,
        r#"
name = "Sides"
[[step]]
name = "Kneading"
reps = 20
tempo = "2s"
sides = ["left", "right"]
[[step]]
name = "Stroking"
reps = 20
tempo = "2s"
"#,
    )
    .unwrap();
    let _daemon = home.daemon();
    let mut line = home.connect();
    line.ok(start_request(&routine));
    wait_until("the left side", PATIENCE, || {
        line.status()["stretch"] == "left side"
    });
    let status = line.ok(request("next"));
    assert_eq!(status["step_name"], "Kneading", "{status}");
    assert_eq!(status["stretch"], "right side", "{status}");
    // a second press right after goes one further back
    let status = line.ok(request("prev"));
    assert_eq!(status["stretch"], "left side", "{status}");
    let status = line.ok(request("next_step"));
    assert_eq!(status["step_name"], "Stroking", "{status}");
    assert!(status.get("stretch").is_none(), "{status}");
    let status = line.ok(request("prev_step"));
    assert_eq!(status["step_name"], "Kneading", "{status}");
    let status = line.ok(request("repeat"));
    assert_eq!(status["stretch"], "left side", "{status}");
    // the command line says the same
    let output = home.run(&["next"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(line.status()["stretch"], "right side");
    let output = home.run(&["next", "--step"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(line.status()["step_name"], "Stroking");
}

#[test]
fn a_second_start_never_replaces_a_session_unless_asked() {
    let home = home();
    let other = home.path().join("other.toml");
    fs::write(
        &other,
        "name = \"Other\"\n[[step]]\nname = \"Press\"\nreps = 20\n",
    )
    .unwrap();
    let _daemon = home.daemon();
    let mut line = home.connect();
    line.ok(start_request(test_routine(&home)));
    let reply = line.ask(start_request(&other));
    assert_eq!(reply["reply"], "error", "{reply}");
    assert_eq!(reply["kind"], "not_now", "{reply}");
    let message = reply["message"].as_str().unwrap();
    assert!(
        message.contains("--replace") && message.contains("Test routine"),
        "{message}"
    );
    assert_eq!(line.status()["routine"], "Test routine");
    // paused is under way too
    line.ok(request("pause"));
    let output = home.run(&["start", other.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(stderr(&output).contains("--replace"), "{}", stderr(&output));
    assert_eq!(line.status()["routine"], "Test routine");
    // asked to replace, it does
    let output = home.run(&["start", other.to_str().unwrap(), "--replace"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(line.status()["routine"], "Other");
    // a stopped session is not under way: a plain start goes ahead
    line.ok(request("stop"));
    line.ok(start_request(test_routine(&home)));
    assert_eq!(line.status()["routine"], "Test routine");
}
