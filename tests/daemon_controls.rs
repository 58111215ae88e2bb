//! The controls at the level of the hands, on the real daemon over its
//! socket: moves that say where they land, notices said aloud, sessions
//! brought back after a stop or a replace, why a session is paused, course
//! counting, the live view as JSON lines and across a daemon that died,
//! and how routines are named and listed.

use std::fs;
use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use serde_json::{Value, json};

use massage_cue::history::History;

use crate::common::lines::Lines;
use crate::daemon::{Connection, Detached, Home, request, start_request, wait_until};

/// How long anything here may take before a test fails.
const PATIENCE: Duration = Duration::from_secs(20);

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

/// A routine with sides.
const SIDES: &str = r#"
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
fn list_marks_a_shadowed_bundled_routine_and_names_match_whatever_their_case() {
    let home = Home::new().patience(PATIENCE).bundled_routines();
    let mine = home.path().join("config/massage-cue/routines");
    fs::create_dir_all(&mine).unwrap();
    fs::write(mine.join("lower-back.toml"), ROUTINE).unwrap();
    let output = home.run(&["list"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("lower-back "))
        .collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].ends_with("[user]"), "{text}");
    assert!(
        lines[1].contains("[bundled, hidden by your routine `lower-back`"),
        "{text}"
    );
    // a name in another case finds the one routine it can mean
    let _daemon = home.daemon();
    let output = home.run(&["start", "Waist-Self-Massage"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(home.status()["routine"], "Waist self-massage");
    let output = home.run(&["plan", "LOWER-BACK"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("Stroking"), "{}", stdout(&output));
}

#[test]
fn status_follow_json_is_a_stream_of_json_lines() {
    let home = home();
    let tiny = home.routine(
        "tiny.toml",
        "name = \"Tiny\"\n[[step]]\nname = \"Press\"\nreps = 2\ntempo = \"1s\"\n",
    );
    let _daemon = home.daemon();
    home.start(&tiny);
    let output = home.run(&["status", "--follow", "--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect();
    assert!(lines.len() > 2, "{text}");
    for line in &lines {
        assert!(line["status"]["state"].is_string(), "{line}");
    }
    assert_eq!(
        lines.last().unwrap()["status"]["state"],
        "finished",
        "{text}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l["cue"]["text"] == "Session complete."),
        "{text}"
    );
}

#[test]
fn the_follow_view_starts_a_daemon_that_died_again_and_shows_the_session() {
    let home = home();
    let mut daemon = home.daemon();
    home.start(&test_routine(&home));
    let mut view = Lines::spawn(home.command(&["status", "--follow"]), PATIENCE * 3)
        .showing_log(home.state_dir().join("daemon.log"));
    view.expect("saying the session runs", |l| {
        l.starts_with("running  Test routine")
    });
    wait_until("a saved position", PATIENCE, || {
        home.state_dir().join("session.json").exists()
    });
    daemon.kill9();
    view.expect("saying the daemon is started again", |l| {
        l.contains("starting it again")
    });
    view.expect("showing the restored session, paused", |l| {
        l.starts_with("paused  Test routine")
    });
    view.expect("saying why it is paused", |l| l.contains("interrupted"));
    let _restarted = Detached(home.daemon_pid());
    assert_eq!(home.status()["state"], "paused");
    // a daemon stopped on purpose is not started again
    home.ok(request("shutdown"));
    view.expect("saying the daemon stopped", |l| l == "The daemon stopped.");
}

/// Reads updates from a subscriber until one carries a cue of `kind`; its
/// text.
fn cue_of_kind(sub: &mut Connection, kind: &str) -> String {
    loop {
        let update = sub.reply().expect("the daemon sends updates");
        if update["cue"]["kind"] == kind {
            return update["cue"]["text"].as_str().unwrap().to_owned();
        }
    }
}

/// A subscriber, with the status at the time it subscribed read.
fn subscriber(home: &Home) -> Connection {
    let mut sub = home.connect();
    sub.ok(request("subscribe"));
    sub
}

/// Sends `name`; the reply's message, which must be there.
fn said(line: &mut Connection, name: &str) -> String {
    let reply = line.ask(request(name));
    assert_eq!(reply["reply"], "ok", "{name}: {reply}");
    reply["message"]
        .as_str()
        .unwrap_or_else(|| panic!("{name} says nothing: {reply}"))
        .to_owned()
}

#[test]
fn every_move_says_where_it_lands_and_a_quick_second_prev_goes_further_back() {
    let home = home();
    let routine = home.routine("sides.toml", SIDES);
    let _daemon = home.daemon();
    let mut line = home.connect();
    let mut sub = subscriber(&home);
    line.ok(start_request(&routine));
    wait_until("the left side", PATIENCE, || {
        line.status()["stretch"] == "left side"
    });
    assert_eq!(said(&mut line, "next"), "Next: Kneading, right side.");
    assert_eq!(cue_of_kind(&mut sub, "move"), "Next: Kneading, right side.");
    assert_eq!(said(&mut line, "repeat"), "Right side, again.");
    assert_eq!(cue_of_kind(&mut sub, "move"), "Right side, again.");
    // well into the right side, prev goes back to its start...
    let at = line.status()["elapsed_ms"].as_u64().unwrap();
    wait_until("3.5 s into the right side", PATIENCE, || {
        line.status()["elapsed_ms"].as_u64().unwrap() > at + 3_500
    });
    assert_eq!(said(&mut line, "prev"), "Back to Kneading, right side.");
    assert_eq!(line.status()["stretch"], "right side");
    // ...and a second press right after goes one further back
    assert_eq!(said(&mut line, "prev"), "Back to Kneading, left side.");
    assert_eq!(line.status()["stretch"], "left side");
    assert_eq!(said(&mut line, "next_step"), "Next: Stroking.");
    assert_eq!(said(&mut line, "repeat_step"), "Stroking, again.");
    assert_eq!(said(&mut line, "prev_step"), "Back to Kneading, left side.");
    // the command line prints what is said
    let output = home.run(&["next"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).starts_with("Next: Kneading, right side.\n"),
        "{}",
        stdout(&output)
    );
    assert_eq!(line.status()["state"], "running");
}

#[test]
fn say_during_a_session_is_said_by_the_daemon_and_the_counts_wait_for_it() {
    let home = home();
    let counts = home.routine(
        "counts.toml",
        "name = \"Counts\"\n[[step]]\nname = \"Press\"\nreps = 40\ntempo = \"1s\"\n",
    );
    let _daemon = home.daemon();
    let mut line = home.connect();
    let mut sub = subscriber(&home);
    line.ok(start_request(&counts));
    cue_of_kind(&mut sub, "count");
    let text = "Breathe out slowly, and let the shoulders drop.";
    let output = home.run(&["say", text]);
    assert!(output.status.success(), "{}", stderr(&output));
    // the daemon says it, and the next count comes only once it is said
    let (said_at, said_ms) = loop {
        let update = sub.reply().expect("the daemon sends updates");
        if update["cue"]["kind"] == "say" {
            assert_eq!(update["cue"]["text"], text);
            let ms = update["cue"]["duration_ms"].as_u64().unwrap();
            break (std::time::Instant::now(), ms);
        }
    };
    assert!(
        said_ms > 1_500,
        "a phrase this long lasts over 1.5 s: {said_ms}"
    );
    cue_of_kind(&mut sub, "count");
    let gap = said_at.elapsed();
    // a count is handed to the output up to 250 ms before it sounds
    assert!(
        gap + Duration::from_millis(300) >= Duration::from_millis(said_ms),
        "a count came {gap:?} after a phrase of {said_ms} ms began"
    );
    assert_eq!(line.status()["state"], "running");
    // what the daemon will not say, it says why
    for bad in ["", "  ", "one\ntwo", &"long ".repeat(120)] {
        let reply = line.ask(json!({"version": 1, "request": "say", "text": bad}));
        assert_eq!(reply["kind"], "bad_input", "{bad:?}: {reply}");
    }
    // with no session under way, the terminal says it itself (and here,
    // with no sound server, says it has no output)
    line.ok(request("stop"));
    let output = home.run(&["say", "Done."]);
    assert!(
        stderr(&output).contains("no audio output device"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn held_back_moves_are_said_aloud_and_the_end_asks_for_a_second_press() {
    let home = home();
    let one = home.routine(
        "one.toml",
        "name = \"One\"\ncautions = [\"Not on broken skin.\"]\n[[step]]\nname = \"Press\"\nreps = 30\ntempo = \"2s\"\n",
    );
    let _daemon = home.daemon();
    let mut line = home.connect();
    let mut sub = subscriber(&home);
    line.ok(start_request(&one));
    wait_until("the caution", PATIENCE, || {
        let status = line.status();
        status["state"] == "running" && status["elapsed_ms"].as_u64().unwrap() > 0
    });
    let caution = said(&mut line, "next");
    if line.status()["step"].is_null() {
        // still in the cautions: held back, and said
        assert_eq!(
            caution,
            "The cautions are always said; next works once they are."
        );
        assert_eq!(cue_of_kind(&mut sub, "notice"), caution);
    }
    wait_until("the step", PATIENCE, || line.status()["step"] == 0);
    let notice = said(&mut line, "next");
    assert_eq!(
        notice,
        "This is the last step. Press next again within 5 seconds to end the session."
    );
    assert_eq!(cue_of_kind(&mut sub, "notice"), notice);
    let status = line.status();
    assert_eq!(status["step"], 0, "held back: {status}");
    assert_eq!(status["state"], "running");
    // the second press, right after the notice is said, ends it
    line.ok(request("next"));
    wait_until("the end", PATIENCE, || line.status()["state"] == "finished");
    let log = History::new(home.state_dir().join("history.jsonl"))
        .read()
        .unwrap();
    let entry = &log.entries[0];
    assert!(entry.completed);
    assert!(!entry.counts(), "skipped through: {entry:?}");
}

#[test]
fn a_stopped_or_replaced_session_comes_back_with_resume_last() {
    let home = home();
    let other = home.routine(
        "other.toml",
        "name = \"Other\"\n[[step]]\nname = \"Press\"\nreps = 20\ntempo = \"2s\"\n",
    );
    let _daemon = home.daemon();
    // nothing kept yet
    let output = home.run(&["resume", "--last"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("no session was stopped"),
        "{}",
        stderr(&output)
    );

    let mut line = home.connect();
    line.ok(start_request(test_routine(&home)));
    wait_until("repetition 3", PATIENCE, || {
        line.status()["rep"].as_u64().unwrap_or(0) >= 3
    });
    let output = home.run(&["stop"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("resume --last"),
        "{}",
        stdout(&output)
    );
    assert_eq!(line.status()["state"], "idle");
    let output = home.run(&["resume", "--last"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).starts_with("Resuming: Stroking, "),
        "{}",
        stdout(&output)
    );
    let status = line.status();
    assert_eq!(status["routine"], "Test routine");
    assert_eq!(status["state"], "running");
    assert!(status["rep"].as_u64().unwrap() >= 2, "{status}");

    // replaced, it is kept too; bringing it back keeps the other in turn
    let output = home.run(&["start", other.to_str().unwrap(), "--replace"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("was replaced"),
        "{}",
        stdout(&output)
    );
    assert_eq!(line.status()["routine"], "Other");
    line.ok(request("resume_last"));
    assert_eq!(line.status()["routine"], "Test routine");
    line.ok(request("resume_last"));
    assert_eq!(line.status()["routine"], "Other");

    // kept for an hour, not longer
    line.ok(request("stop"));
    let kept = home.state_dir().join("last-session.json");
    let mut saved: Value = serde_json::from_slice(&fs::read(&kept).unwrap()).unwrap();
    let ended = saved["ended_at_ms"].as_u64().unwrap();
    saved["ended_at_ms"] = json!(ended - 61 * 60 * 1000);
    fs::write(&kept, saved.to_string()).unwrap();
    let reply = line.ask(request("resume_last"));
    assert_eq!(reply["kind"], "not_now", "{reply}");
    assert!(
        reply["message"]
            .as_str()
            .unwrap()
            .contains("within the last 1 hour"),
        "{reply}"
    );
}

#[test]
fn a_paused_session_says_why() {
    let home = home();
    let mut daemon = home.daemon();
    let mut line = home.connect();
    line.ok(start_request(test_routine(&home)));
    let status = line.ok(request("pause"));
    assert_eq!(status["why"], "manual", "{status}");
    let message = status["message"].as_str().unwrap();
    assert!(message.starts_with("Paused on request"), "{message}");
    assert!(!message.contains("sound output"), "{message}");
    let status = line.ok(request("resume"));
    assert!(status.get("why").is_none(), "{status}");
    // nothing is said of the pause any more (the output may still be
    // opening, which the message may say)
    assert!(
        !status["message"]
            .as_str()
            .unwrap_or_default()
            .contains("Paused"),
        "{status}"
    );
    // restored after the daemon died
    line.ok(request("pause"));
    daemon.kill9();
    let _daemon = home.daemon();
    let status = home.status();
    assert_eq!(status["state"], "paused");
    assert_eq!(status["why"], "restart", "{status}");
    assert!(
        status["message"].as_str().unwrap().contains("interrupted"),
        "{status}"
    );
    // a manual pause then says only that
    let status = home.ok(request("resume"));
    assert_eq!(status["state"], "running");
    let status = home.ok(request("pause"));
    assert_eq!(status["why"], "manual");
    assert!(
        !status["message"].as_str().unwrap().contains("interrupted"),
        "{status}"
    );
}

/// A tiny routine with a course of 2 sessions.
const COURSE: &str =
    "name = \"Coursed\"\ncourse = \"2-2\"\n[[step]]\nname = \"Press\"\nreps = 3\ntempo = \"1s\"\n";

/// Starts the coursed routine; what its course cue says.
fn course_cue(home: &Home, routine: &std::path::Path) -> String {
    let mut sub = subscriber(home);
    home.start(routine);
    cue_of_kind(&mut sub, "course")
}

#[test]
fn a_course_counts_sessions_mostly_played_and_says_when_it_is_complete() {
    let home = home();
    let routine = home.routine("coursed.toml", COURSE);
    let _daemon = home.daemon();
    assert_eq!(course_cue(&home, &routine), "Session 1 of 2.");
    // skipped through: it does not count
    wait_until("the step", PATIENCE, || home.status()["step"] == 0);
    home.simple("next");
    home.simple("next");
    wait_until("the end", PATIENCE, || home.status()["state"] == "finished");
    assert_eq!(course_cue(&home, &routine), "Session 1 of 2.");
    // played whole: it counts
    wait_until("the end", PATIENCE, || home.status()["state"] == "finished");
    assert_eq!(course_cue(&home, &routine), "Session 2 of 2.");
    wait_until("the end", PATIENCE, || home.status()["state"] == "finished");
    assert_eq!(
        course_cue(&home, &routine),
        "The course is complete; this is an extra session."
    );
    let output = home.run(&["history"]);
    let text = stdout(&output);
    assert!(text.contains("not counted"), "{text}");
    assert!(text.contains("100 % played"), "{text}");
}
