//! What each fuzz target does with one input, and what must hold of the
//! result. The fuzz targets call these; so does `tests/fuzz_regressions.rs`,
//! which replays the inputs kept in `tests/fuzz_cases/`.

#![allow(dead_code)] // each target uses its own half

use std::path::Path;

use massage_cue::plan::{self, Options, Plan, routine_warnings};
use massage_cue::protocol::{self, MAX_LINE, ProtocolError, Request, Response};
use massage_cue::routine::{RoutineError, parse_routine};
use massage_cue::speech::Estimate;

/// The name routine errors give the fuzzed text.
pub const ROUTINE_FILE: &str = "fuzz.toml";

/// What became of a routine input.
#[derive(Debug)]
pub enum RoutineOutcome {
    /// A valid routine; `planned` tells whether the default plan was made
    /// (it may be refused, for instance when a tempo is out of range).
    Valid { planned: bool },
    /// Refused, with the error as it is printed.
    Invalid(String),
}

/// Reads `data` as a routine file (invalid UTF-8 replaced), and plans the
/// routine when it is valid: at the default level, at both ends of every
/// range (what `check` does), and fitted to the middle of its recommended
/// length when it has one (what `start --length` does).
pub fn routine(data: &[u8]) -> RoutineOutcome {
    let text = String::from_utf8_lossy(data);
    match parse_routine(&text, Path::new(ROUTINE_FILE)) {
        Ok(routine) => {
            let planned = match plan::plan(&routine, &Options::default(), &Estimate) {
                Ok(plan) => {
                    assert_well_formed(&plan);
                    true
                }
                Err(err) => {
                    assert!(!err.to_string().is_empty());
                    false
                }
            };
            let _ = routine_warnings(&routine);
            if let Some(span) = routine.length {
                let options = Options {
                    length: Some(span.low + (span.high - span.low) / 2),
                    ..Options::default()
                };
                match plan::plan(&routine, &options, &Estimate) {
                    Ok(plan) => assert_well_formed(&plan),
                    Err(err) => assert!(!err.to_string().is_empty()),
                }
            }
            RoutineOutcome::Valid { planned }
        }
        Err(err) => RoutineOutcome::Invalid(assert_clean_error(&text, &err)),
    }
}

/// A refused routine names at least one problem, each at a real line and
/// column of the text, and prints each as `fuzz.toml:LINE:COLUMN: ...`.
fn assert_clean_error(text: &str, err: &RoutineError) -> String {
    let problems = err.problems();
    assert!(!problems.is_empty(), "an error without a problem: {err:?}");
    let lines: Vec<&str> = text.split('\n').collect();
    for problem in problems {
        let line = problem.line as usize;
        assert!(
            (1..=lines.len()).contains(&line),
            "line {line} of {}",
            lines.len()
        );
        let columns = lines[line - 1].chars().count() + 1;
        assert!(
            (1..=columns).contains(&(problem.column as usize)),
            "column {} of {columns} on line {line}",
            problem.column
        );
        assert!(!problem.message.is_empty());
    }
    let shown = err.to_string();
    let first = &problems[0];
    let place = format!("{ROUTINE_FILE}:{}:{}: ", first.line, first.column);
    assert!(
        shown.starts_with(&place),
        "{shown:?} does not start {place:?}"
    );
    shown
}

/// What the planner promises: cues in order and never overlapping, steps
/// end to end, and the session ending with its last cue.
fn assert_well_formed(plan: &Plan) {
    assert!(!plan.cues.is_empty(), "a plan without cues");
    for pair in plan.cues.windows(2) {
        assert!(
            pair[0].end_ms() <= pair[1].at_ms,
            "{:?} overlaps {:?}",
            pair[0],
            pair[1]
        );
    }
    assert_eq!(plan.total_ms, plan.cues.last().map_or(0, |c| c.end_ms()));
    for pair in plan.steps.windows(2) {
        assert_eq!(pair[0].end_ms, pair[1].start_ms, "steps are end to end");
    }
}

/// What became of a protocol input.
#[derive(Debug, Default)]
pub struct ProtocolOutcome {
    /// The error, as printed, when the line was not a request.
    pub request: Option<String>,
    /// The same for a response.
    pub response: Option<String>,
}

/// Reads `data` as a request line and as a response line. What decodes
/// must encode to one line that decodes to the same value.
pub fn protocol(data: &[u8]) -> ProtocolOutcome {
    ProtocolOutcome {
        request: round_trip(data, Request::decode, Request::encode),
        response: round_trip(data, Response::decode, Response::encode),
    }
}

fn round_trip<T: PartialEq + std::fmt::Debug>(
    data: &[u8],
    decode: fn(&[u8]) -> Result<T, ProtocolError>,
    encode: fn(&T) -> String,
) -> Option<String> {
    let value = match decode(data) {
        Ok(value) => value,
        Err(err) => {
            let shown = err.to_string();
            assert!(!shown.is_empty());
            return Some(shown);
        }
    };
    let line = encode(&value);
    let body = line.strip_suffix('\n').expect("a line ends with a newline");
    assert!(!body.contains('\n'), "a newline inside {line:?}");
    assert!(body.starts_with(&format!("{{\"version\":{},", protocol::VERSION)));
    match decode(line.as_bytes()) {
        Ok(again) => assert_eq!(again, value, "{line}"),
        // numbers may be written longer than they were read ("9e9"), so a
        // line read near the limit may come out over it
        Err(ProtocolError::TooLong) => assert!(line.len() > MAX_LINE),
        Err(err) => panic!("{line:?} does not decode: {err}"),
    }
    None
}
