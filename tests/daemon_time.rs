//! `more` and `less`, the booked length and the end time, on the real
//! daemon over its real socket and through the real command line. Sessions
//! here play as text (no sound server), and are paused before they are
//! measured, so that nothing depends on how fast the machine is.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use serde_json::{Value, json};

use massage_cue::state;

use crate::daemon::{Home, request, wait_until};

const PATIENCE: Duration = Duration::from_secs(20);

/// A counted step of 30 repetitions of 2 s, then a finish of 1 to 10
/// minutes that a booked length stretches or shrinks.
const ROUTINE: &str = r#"
name = "Timing"
[[step]]
name = "Stroking"
reps = 30
tempo = "2s"
[[step]]
name = "Finish"
time = "1m-10m"
"#;

fn home() -> (Home, PathBuf) {
    let home = Home::new().patience(PATIENCE);
    let routine = home.routine("timing.toml", ROUTINE);
    (home, routine)
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Starts the routine (with `length` booked, when given), waits until its
/// first step counts, and pauses it there; the status.
fn start_paused_in_the_first_step(home: &Home, routine: &Path, length: Option<u64>) -> Value {
    let mut options = json!({});
    if let Some(ms) = length {
        options["length_ms"] = json!(ms);
    }
    home.ok(json!({
        "version": 1,
        "request": "start",
        "routine": routine.to_str().unwrap(),
        "options": options,
    }));
    wait_until("the first step to count", PATIENCE, || {
        home.status()["rep"].as_u64().is_some_and(|rep| rep >= 2)
    });
    home.simple("pause")
}

fn ms(value: &Value, key: &str) -> i64 {
    value[key]
        .as_i64()
        .unwrap_or_else(|| panic!("{key} in {value}"))
}

/// Asks `request` with `ms`; the whole reply, which must be ok.
fn change(home: &Home, request: &str, amount: u64) -> Value {
    let reply = home.ask(json!({"version": 1, "request": request, "ms": amount}));
    assert_eq!(reply["reply"], "ok", "{reply}");
    reply
}

#[test]
fn more_and_less_lengthen_and_shorten_the_stretch_under_way() {
    let (home, routine) = home();
    let _daemon = home.daemon();
    let before = start_paused_in_the_first_step(&home, &routine, None);
    assert_eq!(before["reps"], 30, "{before}");
    assert!(before["booked_ms"].is_null() && before["over_ms"].is_null());

    // a minute at 2 s a repetition is 30 more, and the session a minute longer
    let reply = change(&home, "more", 60_000);
    let after = &reply["status"];
    assert_eq!(after["reps"], 60, "{after}");
    assert_eq!(after["rep"], before["rep"], "it goes on where it was");
    assert_eq!(
        ms(after, "remaining_ms"),
        ms(&before, "remaining_ms") + 60_000
    );
    assert_eq!(ms(after, "elapsed_ms"), ms(&before, "elapsed_ms"));
    let message = reply["message"].as_str().unwrap();
    assert_eq!(message, "Stroking: 1m more.");

    // less takes half of it back
    let reply = change(&home, "less", 30_000);
    let after = &reply["status"];
    assert_eq!(after["reps"], 45, "{after}");
    assert_eq!(
        ms(after, "remaining_ms"),
        ms(&before, "remaining_ms") + 30_000
    );
    assert_eq!(reply["message"], "Stroking: 30s less.");

    // far less than there is: the step ends after the repetition under
    // way, or the next when less than 2 s of it is left
    let reply = change(&home, "less", 3_600_000);
    let rep = reply["status"]["rep"].as_u64().unwrap();
    let reps = reply["status"]["reps"].as_u64().unwrap();
    assert!(reps == rep || reps == rep + 1, "{reply}");
    let left = ms(&reply["status"], "step_remaining_ms");
    assert!((2_000..4_000).contains(&left), "{reply}");
    // and nothing less is left to take
    let reply = home.ask(json!({"version": 1, "request": "less", "ms": 60_000}));
    assert_eq!(reply["reply"], "error", "{reply}");
    assert_eq!(reply["kind"], "not_now", "{reply}");
    assert!(
        reply["message"]
            .as_str()
            .unwrap()
            .contains("cannot be shortened"),
        "{reply}"
    );
    // the session goes on from there, counting
    home.simple("resume");
    wait_until("the next step", PATIENCE, || {
        home.status()["step_name"] == "Finish"
    });
}

#[test]
fn the_end_time_is_the_wall_clock_now_and_the_time_left() {
    let (home, routine) = home();
    let _daemon = home.daemon();
    start_paused_in_the_first_step(&home, &routine, None);
    let before = state::unix_ms_now();
    let status = home.status();
    let after = state::unix_ms_now();
    let ends = ms(&status, "ends_at_ms") as u64;
    let left = ms(&status, "remaining_ms") as u64;
    assert!(
        (before..=after).contains(&(ends - left)),
        "{status} asked between {before} and {after}"
    );
    change(&home, "more", 120_000);
    let moved = ms(&home.status(), "ends_at_ms") as u64;
    assert!(moved >= ends + 120_000, "{moved} after {ends}");

    // the command line shows it on the local clock, here three hours
    // ahead of UTC
    let hhmm = |unix_ms: u64| {
        let minutes = (unix_ms / 60_000 + 180) % 1440;
        format!("{:02}:{:02}", minutes / 60, minutes % 60)
    };
    let first = ms(&home.status(), "ends_at_ms") as u64;
    let output = home
        .command(&["status"])
        .env("TZ", "XYZ-3")
        .output()
        .unwrap();
    let last = ms(&home.status(), "ends_at_ms") as u64;
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        [first, last]
            .iter()
            .any(|at| text.contains(&format!("ends {} if resumed now", hhmm(*at)))),
        "{text} (between {} and {})",
        hhmm(first),
        hhmm(last)
    );
    // and the JSON has it machine-readably
    let json = home.client_status();
    assert!(json["ends_at_ms"].as_u64().unwrap() >= first, "{json}");
    home.simple("stop");
    assert!(home.status()["ends_at_ms"].is_null());
}

#[test]
fn a_booked_length_is_kept_when_more_or_less_is_asked() {
    let (home, routine) = home();
    let _daemon = home.daemon();
    let booked = 5 * 60_000;
    let before = start_paused_in_the_first_step(&home, &routine, Some(booked));
    assert_eq!(ms(&before, "booked_ms"), booked as i64, "{before}");
    assert!(ms(&before, "over_ms").abs() <= 1_000, "{before}");
    let left = ms(&before, "remaining_ms");

    // a minute more here is a minute less in the finish: the session ends
    // when it would have, to within one repetition
    let reply = change(&home, "more", 60_000);
    let after = &reply["status"];
    assert_eq!(after["reps"], 60, "{after}");
    assert!((ms(after, "remaining_ms") - left).abs() <= 2_000, "{after}");
    assert!(ms(after, "over_ms").abs() <= 2_000, "{after}");
    assert_eq!(
        reply["message"], "Stroking: 1m more.",
        "nothing over to say"
    );

    let reply = change(&home, "less", 90_000);
    let after = &reply["status"];
    assert!((ms(after, "remaining_ms") - left).abs() <= 2_000, "{after}");
    assert!(ms(after, "over_ms").abs() <= 2_000, "{after}");

    // the finish grew to make up for it: it is longer than it was
    home.simple("next_step");
    let finish = home.status();
    assert_eq!(finish["step_name"], "Finish", "{finish}");
    assert!(ms(&finish, "over_ms").abs() <= 2_000, "{finish}");
}

#[test]
fn more_than_the_steps_after_can_give_runs_over_and_the_voice_says_so() {
    let (home, routine) = home();
    let _daemon = home.daemon();
    let booked = 5 * 60_000;
    start_paused_in_the_first_step(&home, &routine, Some(booked));
    let mut watch = home.connect();
    watch.ok(request("subscribe"));

    // ten minutes more: the finish gives what it can (down to 1 minute),
    // the rest is over
    let reply = change(&home, "more", 10 * 60_000);
    let status = &reply["status"];
    let over = ms(status, "over_ms");
    assert!(over > 6 * 60_000 && over < 10 * 60_000, "{status}");
    let minutes = (over + 30_000) / 60_000;
    let said = format!("This will run {minutes} minutes over.");
    let message = reply["message"].as_str().unwrap();
    assert!(message.ends_with(&said), "{message}");
    // it is spoken: the live view sees it as it is said
    wait_until("the over-run to be said", PATIENCE, || {
        let update = watch.reply().expect("an update");
        update["cue"]["text"] == said.as_str() && update["cue"]["kind"] == "notice"
    });
    // the command line shows it beside the end time
    let output = home.run(&["status"]);
    assert!(
        stdout(&output).contains(" over of the booked length)"),
        "{}",
        stdout(&output)
    );

    // taking it back keeps the booking again, and says nothing
    let reply = change(&home, "less", 10 * 60_000);
    assert!(ms(&reply["status"], "over_ms").abs() <= 2_000, "{reply}");
    assert!(
        !reply["message"].as_str().unwrap().contains("This will"),
        "{reply}"
    );
}

#[test]
fn a_skipped_step_is_made_up_by_the_steps_after_under_a_booking() {
    let (home, routine) = home();
    let _daemon = home.daemon();
    let booked = 5 * 60_000;
    let before = start_paused_in_the_first_step(&home, &routine, Some(booked));
    let status = home.simple("next_step");
    assert_eq!(status["step_name"], "Finish", "{status}");
    // the time the skip saved goes to the finish: the session still ends
    // when booked, to within a second
    assert!(ms(&status, "over_ms").abs() <= 1_000, "{status}");
    assert!(
        (ms(&status, "remaining_ms") - ms(&before, "remaining_ms")).abs() <= 1_000,
        "{status} after {before}"
    );

    // without a booking the session just ends sooner
    let (home, routine) = self::home();
    let _daemon = home.daemon();
    let before = start_paused_in_the_first_step(&home, &routine, None);
    let status = home.simple("next_step");
    assert!(
        ms(&status, "remaining_ms") < ms(&before, "remaining_ms") - 20_000,
        "{status} after {before}"
    );
}

#[test]
fn a_restarted_daemon_brings_the_changed_session_back_as_it_was() {
    let (home, routine) = home();
    let mut daemon = home.daemon();
    start_paused_in_the_first_step(&home, &routine, Some(5 * 60_000));
    change(&home, "more", 60_000);
    let before = home.status();
    home.simple("shutdown");
    daemon.wait();
    let _daemon = home.daemon();
    let after = home.status();
    for key in ["reps", "step", "over_ms", "booked_ms"] {
        assert_eq!(after[key], before[key], "{key}: {after} after {before}");
    }
    // it comes back at the start of its repetition, in the same plan
    let total = |s: &Value| ms(s, "elapsed_ms") + ms(s, "remaining_ms");
    assert_eq!(total(&after), total(&before), "{after} after {before}");
}

#[test]
fn bad_durations_are_refused_with_a_clear_message_and_exit_2() {
    let (home, routine) = home();
    let _daemon = home.daemon();
    let before = start_paused_in_the_first_step(&home, &routine, None);
    for (args, says) in [
        (
            ["more", "abc"],
            "more: `abc` is not a duration; write it like 1m",
        ),
        (["less", "-1m"], "less: `-1m` is not a duration"),
        (["less", "0s"], "less: `0s` is outside 1 second to 1 hour"),
        (["more", "2h"], "more: `2h` is outside 1 second to 1 hour"),
    ] {
        let output = home.run(&args);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output).contains(says),
            "{args:?}: {}",
            stderr(&output)
        );
    }
    // over the socket too
    let reply = home.ask(json!({"version": 1, "request": "more", "ms": 0}));
    assert_eq!(reply["kind"], "bad_input", "{reply}");
    assert!(
        reply["message"]
            .as_str()
            .unwrap()
            .contains("1 second to 1h"),
        "{reply}"
    );
    let reply = home.ask(json!({"version": 1, "request": "less", "ms": "a minute"}));
    assert_eq!(reply["kind"], "bad_request", "{reply}");
    // nothing changed
    assert_eq!(home.status()["remaining_ms"], before["remaining_ms"]);
    // the help lists them
    let help = stdout(&home.run(&["--help"]));
    for line in ["\n  more ", "\n  less "] {
        assert!(help.contains(line), "{help}");
    }
    let help = stdout(&home.run(&["more", "--help"]));
    assert!(help.contains("[default: 1m]"), "{help}");
    // the command line's default is a minute
    let output = home.run(&["more"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("Stroking: 1m more."),
        "{}",
        stdout(&output)
    );
    assert_eq!(
        ms(&home.status(), "remaining_ms"),
        ms(&before, "remaining_ms") + 60_000
    );
}

#[test]
fn more_in_the_opening_or_at_a_waiting_step_says_why_not() {
    let home = Home::new().patience(PATIENCE);
    let routine = home.routine(
        "waits.toml",
        r#"
name = "Waits"
cautions = ["Mind the neck."]
[[step]]
name = "Get ready"
wait = true
[[step]]
name = "Stroking"
reps = 10
tempo = "2s"
"#,
    );
    let _daemon = home.daemon();
    home.start(&routine);
    let reply = home.ask(json!({"version": 1, "request": "more", "ms": 60_000}));
    assert_eq!(reply["kind"], "not_now", "{reply}");
    assert!(
        reply["message"]
            .as_str()
            .unwrap()
            .contains("no work under way"),
        "{reply}"
    );
    wait_until("the waiting step", PATIENCE, || {
        home.status()["state"] == "waiting"
    });
    let output = home.run(&["less"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("a step that waits"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn going_back_under_a_booking_is_fitted_too_and_a_preferred_length_is_no_booking() {
    let (home, routine) = home();
    let _daemon = home.daemon();
    let booked = 5 * 60_000;
    start_paused_in_the_first_step(&home, &routine, Some(booked));
    let ahead = home.simple("next_step");
    assert_eq!(ahead["step_name"], "Finish", "{ahead}");
    // back to the start of the stroking: the finish gives back what it took
    let back = home.simple("prev_step");
    assert_eq!(back["step_name"], "Stroking", "{back}");
    assert!(ms(&back, "over_ms").abs() <= 1_000, "{back}");
    assert!(
        ms(&back, "remaining_ms") < ms(&ahead, "remaining_ms") + 30_000,
        "{back} after {ahead}"
    );

    // a length the configuration prefers is planned, not booked
    let (home, routine) = self::home();
    home.config("[session]\nlength = \"5m\"\n");
    let _daemon = home.daemon();
    let status = start_paused_in_the_first_step(&home, &routine, None);
    assert!(status["booked_ms"].is_null(), "{status}");
    assert!(status["over_ms"].is_null(), "{status}");
    // (planned to it all the same: at level mid it would be 6 minutes and more)
    let total = ms(&status, "elapsed_ms") + ms(&status, "remaining_ms");
    assert!((total - 300_000).abs() <= 5_000, "{status}");
}

#[test]
fn more_while_running_goes_on_counting_with_no_count_said_twice() {
    let (home, routine) = home();
    let _daemon = home.daemon();
    home.ok(json!({
        "version": 1,
        "request": "start",
        "routine": routine.to_str().unwrap(),
    }));
    let mut watch = home.connect();
    watch.ok(request("subscribe"));
    let mut counts: Vec<u64> = Vec::new();
    let mut asked = false;
    wait_until("four counts after more", PATIENCE, || {
        let update = watch.reply().expect("an update");
        if update["cue"]["kind"] == "count" {
            counts.push(update["cue"]["text"].as_str().unwrap().parse().unwrap());
        }
        if counts.len() == 2 && !asked {
            asked = true;
            let reply = change(&home, "more", 60_000);
            assert_eq!(reply["status"]["reps"], 60, "{reply}");
        }
        counts.len() >= 6
    });
    // no count said twice, in order, from before the change to after it
    // (a count may be dropped, never repeated, when the machine stalls)
    assert!(counts.windows(2).all(|w| w[1] > w[0]), "{counts:?}");
}
