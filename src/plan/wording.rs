//! The words of every stock cue. Kept in one place so the voice pack can
//! render exactly these texts (see [`stock_phrases`]).

use crate::ms::Ms;

/// A sentence as spoken: trimmed, first letter capital, ending in a stop.
pub fn sentence(text: &str) -> String {
    let text = text.trim();
    let mut chars = text.chars();
    let mut out = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect::<String>(),
        None => return String::new(),
    };
    if !out.ends_with(['.', '!', '?', ':']) {
        out.push('.');
    }
    out
}

/// A repetition number as spoken at the start of the repetition.
pub fn count(n: u32) -> String {
    n.to_string()
}

/// Said instead of the number on the final repetition in milestone mode.
pub const LAST_ONE: &str = "Last one.";
pub const PRESS: &str = "Press.";
pub const RELEASE: &str = "Release.";
pub const HALFWAY: &str = "Halfway.";
pub const SESSION_COMPLETE: &str = "Session complete.";
pub const MOVE_ON: &str = "Move on.";
/// Timed work starts.
pub const BEGIN: &str = "Begin.";
/// A step that waits for the go signal, said when it is reached and then
/// every minute.
pub const WAITING: &str = "Carry on when you are ready.";
/// A reminder inside a long hold.
pub const BREATHE: &str = "Breathe slowly.";
/// Back to the first of unnamed positions for a new side or round, when
/// the step has no `restart` of its own.
pub const RESTART: &str = "Start again at the first place.";
pub const RESUMING: &str = "Resuming:";

/// How many repetitions: "15 times.", "Once."
pub fn times(n: u32) -> String {
    match n {
        1 => "Once.".to_string(),
        _ => format!("{n} times."),
    }
}

/// A length of time in words, rounded the way a person would say it.
fn duration_words(ms: Ms) -> String {
    let secs = (ms + 500) / 1000;
    if secs < 60 {
        return match secs {
            1 => "1 second".to_string(),
            _ => format!("{} seconds", secs.max(1)),
        };
    }
    let minutes = secs / 60;
    match secs % 60 {
        0 if minutes == 1 => "1 minute".to_string(),
        0 => format!("{minutes} minutes"),
        30 => format!("{minutes} and a half minutes"),
        _ => {
            let rounded = (secs + 30) / 60;
            if rounded == 1 {
                "about 1 minute".to_string()
            } else {
                format!("about {rounded} minutes")
            }
        }
    }
}

/// How long a timed step lasts: "2 minutes.", "45 seconds."
pub fn how_long(ms: Ms) -> String {
    sentence(&duration_words(ms))
}

/// "each leg" for sides named "left leg" and "right leg", "each side" for
/// "left" and "right", "each of the 3 sides" otherwise.
fn each_side(sides: &[String]) -> String {
    let rests: Vec<&str> = sides
        .iter()
        .map(|side| {
            let side = side.trim();
            side.split_once(char::is_whitespace)
                .map_or("", |(_, rest)| rest.trim())
        })
        .collect();
    match rests.first() {
        Some(first) if rests.iter().all(|r| r == first) && !first.is_empty() => {
            format!("each {first}")
        }
        Some(_) if rests.iter().all(|r| r.is_empty()) && sides.len() == 2 => "each side".into(),
        _ => format!("each of the {} sides", sides.len()),
    }
}

/// Where one stretch's amount repeats: ", at each of 5 places, on each side, 2 rounds".
fn repeats(places: u32, sides: &[String], rounds: u32) -> String {
    let mut out = String::new();
    if places > 1 {
        out.push_str(&format!(" at each of {places} places"));
    }
    if !sides.is_empty() {
        if places > 1 {
            out.push(',');
        }
        out.push_str(&format!(" on {}", each_side(sides)));
    }
    if rounds > 1 {
        out.push_str(&format!(", {rounds} rounds"));
    }
    out
}

/// How much timed work a whole step holds: "2 minutes." for one stretch;
/// "5 minutes: 30 seconds at each of 5 places, on each side." when it
/// repeats at places, on sides or in rounds.
pub fn amount_of_time(time: Ms, places: u32, sides: &[String], rounds: u32) -> String {
    let stretches = u64::from(places.max(1)) * sides.len().max(1) as u64 * u64::from(rounds.max(1));
    if stretches == 1 {
        return how_long(time);
    }
    sentence(&format!(
        "{}: {}{}",
        duration_words(time * stretches),
        duration_words(time),
        repeats(places, sides, rounds)
    ))
}

/// How many repetitions a whole step holds: "15 times.", "14 times at each
/// of 3 places.", "10 times on each leg."
pub fn amount_of_reps(reps: u32, places: u32, sides: &[String], rounds: u32) -> String {
    let many = match reps {
        1 => "once".to_string(),
        n => format!("{n} times"),
    };
    sentence(&format!("{many}{}", repeats(places, sides, rounds)))
}

/// What a step in parts says of itself: "On each leg.", "2 rounds.", or
/// nothing (its parts say their own amounts).
pub fn amount_of_group(sides: &[String], rounds: u32) -> Option<String> {
    let text = repeats(1, sides, rounds);
    let text = text.trim_start_matches([',', ' ']);
    (!text.is_empty()).then(|| sentence(text))
}

/// The length of each hold, said when the step is announced: "Hold each
/// for 1 minute.", "Hold for 1 minute." when there is one.
pub fn hold_each(hold: Ms, reps: u32) -> String {
    let each = if reps == 1 { "" } else { " each" };
    format!("Hold{each} for {}.", duration_words(hold))
}

/// "30 seconds left."
pub fn remaining(ms: Ms) -> String {
    sentence(&format!("{} left", duration_words(ms)))
}

/// The last seconds of a timed stretch: "3.", "2.", "1."
pub fn countdown(n: u32) -> String {
    format!("{n}.")
}

/// "About 25 minutes." for the whole session.
pub fn session_length(total: Ms) -> String {
    let minutes = ((total + 30_000) / 60_000).max(1);
    if minutes == 1 {
        "About 1 minute.".to_string()
    } else {
        format!("About {minutes} minutes.")
    }
}

/// "Session 4 of 15."
pub fn course(n: u32, of: u32) -> String {
    format!("Session {n} of {of}.")
}

/// "Round 2 of 3."
pub fn round(n: u32, of: u32) -> String {
    format!("Round {n} of {of}.")
}

/// How a side is named in a cue: "left" becomes "left side", "left leg"
/// stays as it is.
pub(crate) fn side_name(side: &str) -> String {
    let side = side.trim();
    if side.split_whitespace().count() == 1 {
        format!("{side} side")
    } else {
        side.to_string()
    }
}

/// The first side of a step: "Left side."
pub fn first_side(side: &str) -> String {
    sentence(&side_name(side))
}

/// A change of side: "Switch to the right side."
pub fn switch_side(side: &str) -> String {
    format!("Switch to the {}.", side_name(side))
}

/// The preview of the next step: "Next: deep stroking."
pub fn next(name: &str) -> String {
    format!("Next: {}", sentence(name))
}

/// What resume says: "Resuming: Deep stroking, 7 of 15.", with where in
/// the step when it has sides, places, parts or rounds: "Resuming: Palm
/// circles, right side, place 2 of 5."
pub fn resuming(step: &str, place: Option<&str>, rep: Option<(u32, u32)>) -> String {
    let mut words = vec![step.trim().trim_end_matches(['.', '!', '?']).to_string()];
    let place = place.map(str::trim).filter(|p| !p.is_empty());
    words.extend(place.map(str::to_string));
    if let Some((n, of)) = rep {
        let said = format!("{n} of {of}");
        // a held repetition is a stretch of its own, named already
        if !place.is_some_and(|p| p.ends_with(&said)) {
            words.push(said);
        }
    }
    format!("{RESUMING} {}", sentence(&words.join(", ")))
}

/// What is said when a change to the session under way cannot keep its
/// booked length: "This will run 3 minutes over.", "This will end 1 minute
/// early."; nothing when it misses by less than half a minute.
pub fn over_run(over_ms: i64) -> Option<String> {
    if over_ms.unsigned_abs() < 30_000 {
        return None;
    }
    let minutes = ((over_ms.unsigned_abs() + 30_000) / 60_000).max(1);
    let amount = if minutes == 1 {
        "1 minute".to_string()
    } else {
        format!("{minutes} minutes")
    };
    Some(if over_ms > 0 {
        format!("This will run {amount} over.")
    } else {
        format!("This will end {amount} early.")
    })
}

/// The most minutes [`over_run`] says from the voice pack.
const OVER_RUN_STOCK: i64 = 60;
/// Said when `next` past the last step is held back; the window of a
/// second press starts once it has been said.
pub const CONFIRM_END: &str =
    "This is the last step. Press next again within 5 seconds to end the session.";
/// Said when `next` is pressed during the cautions.
pub const CAUTIONS_FIRST: &str = "The cautions are always said; next works once they are.";
/// Said after `prev` back into the opening of the session.
pub const BACK_TO_START: &str = "Back to the start.";
/// The start of what `prev` says: "Back to Kneading, left side."
pub const BACK_TO: &str = "Back to";
/// Said when a session of a routine with a course is started after the
/// course's last session.
pub const COURSE_COMPLETE: &str = "The course is complete; this is an extra session.";

/// A step and where in it: "Kneading, right side".
fn step_and_place(step: &str, place: Option<&str>) -> String {
    let step = step.trim().trim_end_matches(['.', '!', '?']);
    match place.map(str::trim).filter(|p| !p.is_empty()) {
        Some(place) => format!("{step}, {place}"),
        None => step.to_string(),
    }
}

/// What `next` says where it lands: "Next: Kneading, right side."
pub fn moved_on(step: &str, place: Option<&str>) -> String {
    next(&step_and_place(step, place))
}

/// What `prev` says where it lands: "Back to Kneading, left side."
pub fn moved_back(step: &str, place: Option<&str>) -> String {
    format!("{BACK_TO} {}", sentence(&step_and_place(step, place)))
}

/// What `repeat` says: "Right side, again.", or "Kneading, again." for a
/// step of one stretch (or the whole step).
pub fn again(step: &str, place: Option<&str>) -> String {
    let place = place.map(str::trim).filter(|p| !p.is_empty());
    let what = place.unwrap_or_else(|| step.trim().trim_end_matches(['.', '!', '?']));
    sentence(&format!("{what}, again"))
}

/// Every phrase a move can say in a step, for the voice pack: where
/// `next`, `prev` and `repeat` land in each of its stretches (`places`,
/// none for a step of one stretch).
pub fn move_phrases(step: &str, places: &[&str]) -> Vec<String> {
    let mut out = vec![
        moved_on(step, None),
        moved_back(step, None),
        again(step, None),
    ];
    for place in places {
        out.push(moved_on(step, Some(place)));
        out.push(moved_back(step, Some(place)));
        out.push(again(step, Some(place)));
    }
    out
}

/// Every stock phrase the planner can produce from numbers alone, for the
/// voice pack: counts, quantities, time left, rounds, course, length.
pub fn stock_phrases() -> Vec<String> {
    let mut out: Vec<String> = [
        LAST_ONE,
        PRESS,
        RELEASE,
        HALFWAY,
        SESSION_COMPLETE,
        MOVE_ON,
        RESUMING,
        BEGIN,
        WAITING,
        BREATHE,
        RESTART,
        "Left side.",
        "Right side.",
        "Switch to the left side.",
        "Switch to the right side.",
        "Paused.",
        "of",
        BACK_TO_START,
        BACK_TO,
        COURSE_COMPLETE,
        "Left side, again.",
        "Right side, again.",
        CONFIRM_END,
        CAUTIONS_FIRST,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for n in 1..=200 {
        out.push(count(n));
        out.push(times(n));
    }
    for n in 1..=10 {
        out.push(countdown(n));
        for m in n.max(2)..=10 {
            out.push(round(n, m));
        }
    }
    for of in 1..=30 {
        for n in 1..=of {
            out.push(course(n, of));
        }
    }
    for secs in 1..60 {
        out.push(how_long(secs * 1000));
        out.push(remaining(secs * 1000));
    }
    for minutes in 1..=120 {
        out.push(how_long(minutes * 60_000));
        out.push(remaining(minutes * 60_000));
        out.push(session_length(minutes * 60_000));
        if minutes < 120 {
            out.push(how_long(minutes * 60_000 + 30_000));
            out.push(how_long(minutes * 60_000 + 10_000));
        }
    }
    for minutes in 1..=OVER_RUN_STOCK {
        out.extend(over_run(minutes * 60_000));
        out.extend(over_run(-minutes * 60_000));
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_are_capitalised_and_stopped() {
        assert_eq!(sentence("  deep stroking "), "Deep stroking.");
        assert_eq!(sentence("Ready?"), "Ready?");
        assert_eq!(sentence(""), "");
    }

    #[test]
    fn durations_read_as_a_person_says_them() {
        let table = [
            (45_000, "45 seconds."),
            (60_000, "1 minute."),
            (90_000, "1 and a half minutes."),
            (120_000, "2 minutes."),
            (130_000, "About 2 minutes."),
            (170_000, "About 3 minutes."),
            (1_000, "1 second."),
        ];
        for (ms, text) in table {
            assert_eq!(how_long(ms), text, "{ms} ms");
        }
        assert_eq!(remaining(30_000), "30 seconds left.");
        assert_eq!(remaining(60_000), "1 minute left.");
    }

    #[test]
    fn sides_name_themselves() {
        assert_eq!(first_side("left"), "Left side.");
        assert_eq!(switch_side("right"), "Switch to the right side.");
        assert_eq!(switch_side("right leg"), "Switch to the right leg.");
    }

    #[test]
    fn stock_phrases_cover_what_numbers_make() {
        let stock = stock_phrases();
        for phrase in [
            "15",
            "15 times.",
            "Round 2 of 3.",
            "Session 4 of 15.",
            "About 25 minutes.",
            "10 seconds left.",
            "3.",
            "This will run 3 minutes over.",
            "This will run 1 minute over.",
            "This will end 2 minutes early.",
        ] {
            assert!(stock.binary_search(&phrase.to_string()).is_ok(), "{phrase}");
        }
    }

    #[test]
    fn an_over_run_is_said_in_whole_minutes_from_half_a_minute() {
        assert_eq!(over_run(29_999), None);
        assert_eq!(over_run(-20_000), None);
        assert_eq!(over_run(30_000).unwrap(), "This will run 1 minute over.");
        assert_eq!(over_run(170_000).unwrap(), "This will run 3 minutes over.");
        assert_eq!(
            over_run(-125_000).unwrap(),
            "This will end 2 minutes early."
        );
    }

    #[test]
    fn moves_name_where_they_land() {
        assert_eq!(
            moved_on("Kneading", Some("right side")),
            "Next: Kneading, right side."
        );
        assert_eq!(moved_on("Kneading.", None), "Next: Kneading.");
        assert_eq!(
            moved_back("Kneading", Some("left side")),
            "Back to Kneading, left side."
        );
        assert_eq!(again("Kneading", Some("right side")), "Right side, again.");
        assert_eq!(again("Kneading", None), "Kneading, again.");
        let stock = stock_phrases();
        for phrase in [
            "Right side, again.",
            BACK_TO_START,
            COURSE_COMPLETE,
            CONFIRM_END,
        ] {
            assert!(stock.binary_search(&phrase.to_string()).is_ok(), "{phrase}");
        }
    }

    #[test]
    fn resume_names_the_repetition() {
        assert_eq!(
            resuming("Deep stroking", None, Some((7, 15))),
            "Resuming: Deep stroking, 7 of 15."
        );
        assert_eq!(resuming("Stroking.", None, None), "Resuming: Stroking.");
        assert_eq!(
            resuming("Deep stroking", Some("right side"), Some((7, 15))),
            "Resuming: Deep stroking, right side, 7 of 15."
        );
        assert_eq!(
            resuming("Press", Some("upper back, 3 of 14"), Some((3, 14))),
            "Resuming: Press, upper back, 3 of 14."
        );
    }
}
