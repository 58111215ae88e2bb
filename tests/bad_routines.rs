//! Bad routine files: each is refused with the exact line and column, the
//! key, and a message that says what is wrong and how to fix it.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use massage_cue::routine::{RoutineError, load_routine, parse_routine};

/// One bad file and the first problem it must produce.
struct Case {
    name: &'static str,
    text: String,
    /// `line:column` of the first problem.
    at: &'static str,
    key: &'static str,
    /// Must appear in the problem as printed (message or hint).
    says: &'static str,
}

fn case(
    name: &'static str,
    text: impl Into<String>,
    at: &'static str,
    key: &'static str,
    says: &'static str,
) -> Case {
    Case {
        name,
        text: text.into(),
        at,
        key,
        says,
    }
}

/// A valid header for cases about steps.
const HEAD: &str = "name = \"Bad\"\n";

/// `n` copies of a small counted step.
fn steps(n: usize, reps: u32) -> String {
    (0..n)
        .map(|i| format!("[[step]]\nname = \"Step {i}\"\nreps = {reps}\n"))
        .collect()
}

fn cases() -> Vec<Case> {
    vec![
        // broken TOML
        case(
            "unterminated string",
            "name = \"Bad\n[[step]]\nname = \"A\"\nreps = 1\n",
            "1:12",
            "",
            "not valid TOML",
        ),
        case(
            "unquoted text",
            "name = Bad\n[[step]]\nname = \"A\"\nreps = 1\n",
            "1:8",
            "",
            "put text in double quotes",
        ),
        case(
            "duplicate key",
            format!("{HEAD}[[step]]\nname = \"A\"\nreps = 1\nreps = 2\n"),
            "5:1",
            "",
            "duplicate key `reps`",
        ),
        // the top level
        case(
            "missing name",
            "description = \"x\"\n[[step]]\nname = \"A\"\nreps = 1\n",
            "1:1",
            "name",
            "the routine has no `name`",
        ),
        case(
            "name of the wrong type",
            "name = 5\n[[step]]\nname = \"A\"\nreps = 1\n",
            "1:8",
            "name",
            "expected text in quotes, found the number 5",
        ),
        case(
            "unknown top-level key",
            format!("{HEAD}descripton = \"x\"\n{}", steps(1, 1)),
            "2:1",
            "descripton",
            "did you mean `description`?",
        ),
        case(
            "[[steps]] instead of [[step]]",
            format!("{HEAD}[[steps]]\nname = \"A\"\nreps = 1\n"),
            "2:1",
            "steps",
            "did you mean `step`?",
        ),
        case(
            "step key at the top level",
            format!("{HEAD}reps = 3\n{}", steps(1, 1)),
            "2:1",
            "reps",
            "belongs to a step",
        ),
        case(
            "top-level key below a step header",
            format!("{HEAD}[[step]]\nname = \"A\"\nreps = 1\ncautions = [\"x\"]\n"),
            "5:1",
            "step[1].cautions",
            "`cautions` is a top-level key",
        ),
        case(
            "bad kind",
            format!("{HEAD}kind = \"slef\"\n{}", steps(1, 1)),
            "2:8",
            "kind",
            "did you mean \"self\"?",
        ),
        case(
            "length range without a unit on the low end",
            format!("{HEAD}length = \"10-40m\"\n{}", steps(1, 1)),
            "2:10",
            "length",
            "write both ends with a unit, e.g. \"10m-40m\"",
        ),
        case(
            "reversed length range",
            format!("{HEAD}length = \"40m-10m\"\n{}", steps(1, 1)),
            "2:10",
            "length",
            "write the shorter end first: \"10m-40m\"",
        ),
        case(
            "length under a minute",
            format!("{HEAD}length = \"30s\"\n{}", steps(1, 1)),
            "2:10",
            "length",
            "30s is shorter than the minimum of 1m for a session's length",
        ),
        case(
            "length over eight hours",
            format!("{HEAD}length = \"1h-9h\"\n{}", steps(1, 1)),
            "2:10",
            "length",
            "9h is longer than the limit of 8h for a session's length",
        ),
        case(
            "zero course",
            format!("{HEAD}course = 0\n{}", steps(1, 1)),
            "2:10",
            "course",
            "0 is not a valid count; write a whole number from 1 to 1000",
        ),
        case(
            "cautions as one string",
            format!("{HEAD}cautions = \"Careful.\"\n{}", steps(1, 1)),
            "2:12",
            "cautions",
            "expected a list of texts",
        ),
        case(
            "too many cautions",
            format!(
                "{HEAD}cautions = [{}]\n{}",
                vec!["\"Careful.\""; 51].join(", "),
                steps(1, 1)
            ),
            "2:613",
            "cautions[51]",
            "51 cautions are more than the limit of 50",
        ),
        case(
            "empty description",
            format!("{HEAD}description = \"  \"\n{}", steps(1, 1)),
            "2:15",
            "description",
            "the text is empty",
        ),
        // [defaults]
        case(
            "unknown defaults key",
            format!("{HEAD}[defaults]\ntempoo = \"2s\"\n{}", steps(1, 1)),
            "3:1",
            "defaults.tempoo",
            "did you mean `tempo`?",
        ),
        case(
            "bare-number tempo in defaults",
            format!("{HEAD}[defaults]\ntempo = 2\n{}", steps(1, 1)),
            "3:9",
            "defaults.tempo",
            "write it in quotes with a unit: \"2s\"",
        ),
        case(
            "bad count value",
            format!("{HEAD}[defaults]\ncount = \"evry\"\n{}", steps(1, 1)),
            "3:9",
            "defaults.count",
            "did you mean \"every\"?",
        ),
        // the list of steps
        case("no steps", HEAD, "1:1", "step", "the routine has no steps"),
        case(
            "empty list of steps",
            format!("{HEAD}step = []\n"),
            "2:8",
            "step",
            "the routine has no steps",
        ),
        case(
            "a single [step] table",
            format!("{HEAD}[step]\nname = \"A\"\nreps = 1\n"),
            "2:1",
            "step",
            "write each one as [[step]], with two brackets",
        ),
        case(
            "too many steps",
            format!("{HEAD}{}", steps(201, 1)),
            "602:1",
            "step[201]",
            "201 steps are more than the limit of 200",
        ),
        // one step
        case(
            "step without a name",
            format!("{HEAD}[[step]]\nreps = 1\n"),
            "2:1",
            "step[1].name",
            "the step has no `name`",
        ),
        case(
            "unknown step key",
            format!("{HEAD}[[step]]\nname = \"A\"\nreps = 1\ntmepo = \"2s\"\n"),
            "5:1",
            "step[1].tmepo",
            "did you mean `tempo`?",
        ),
        case(
            "zero reps",
            format!("{HEAD}{}[[step]]\nname = \"C\"\nreps = 0\n", steps(2, 1)),
            "10:8",
            "step[3].reps",
            "0 is not a valid count; write a whole number from 1 to 1000",
        ),
        case(
            "negative reps",
            format!("{HEAD}[[step]]\nname = \"A\"\nreps = -3\n"),
            "4:8",
            "step[1].reps",
            "-3 is not a valid count",
        ),
        case(
            "negative reps in quotes",
            format!("{HEAD}[[step]]\nname = \"A\"\nreps = \"-3\"\n"),
            "4:8",
            "step[1].reps",
            "-3 is not a valid count",
        ),
        case(
            "reversed count range",
            format!("{HEAD}[[step]]\nname = \"A\"\nreps = \"20-15\"\n"),
            "4:8",
            "step[1].reps",
            "write the smaller number first: \"15-20\"",
        ),
        case(
            "fractional reps",
            format!("{HEAD}[[step]]\nname = \"A\"\nreps = 2.5\n"),
            "4:8",
            "step[1].reps",
            "2.5 is not a whole number",
        ),
        case(
            "absurd reps",
            format!("{HEAD}[[step]]\nname = \"A\"\nreps = 1000000000\n"),
            "4:8",
            "step[1].reps",
            "1000000000 repetitions is more than the limit of 1000",
        ),
        case(
            "time range without a unit on the low end",
            format!("{HEAD}[[step]]\nname = \"A\"\ntime = \"1-2m\"\n"),
            "4:8",
            "step[1].time",
            "write both ends with a unit, e.g. \"1m-2m\"",
        ),
        case(
            "bare-number time",
            format!("{HEAD}[[step]]\nname = \"A\"\ntime = 90\n"),
            "4:8",
            "step[1].time",
            "\"90s\"",
        ),
        case(
            "unknown time unit",
            format!("{HEAD}[[step]]\nname = \"A\"\ntime = \"5 sekunden\"\n"),
            "4:8",
            "step[1].time",
            "unknown unit \"sekunden\"",
        ),
        case(
            "absurd time",
            format!("{HEAD}[[step]]\nname = \"A\"\ntime = \"9999h\"\n"),
            "4:8",
            "step[1].time",
            "9999h is longer than the limit of 2h for a step's time",
        ),
        case(
            "time and reps together",
            format!("{HEAD}[[step]]\nname = \"A\"\ntime = \"1m\"\nreps = 10\n"),
            "5:1",
            "step[1].reps",
            "this one has `time` and `reps`",
        ),
        case(
            "neither time nor reps",
            format!("{HEAD}[[step]]\nname = \"A\"\n"),
            "2:1",
            "step[1]",
            "the step has no `time`, `reps` or [[step.part]]",
        ),
        case(
            "time with a hold",
            format!("{HEAD}[[step]]\nname = \"A\"\ntime = \"1m\"\nhold = \"5s\"\n"),
            "5:1",
            "step[1].hold",
            "`hold` goes with `reps`",
        ),
        case(
            "time with a tempo",
            format!("{HEAD}[[step]]\nname = \"A\"\ntempo = \"3s\"\ntime = \"1m\"\n"),
            "4:1",
            "step[1].tempo",
            "`tempo` goes with `reps`",
        ),
        case(
            "tempo too fast",
            format!("{HEAD}[[step]]\nname = \"A\"\nreps = 5\ntempo = \"100ms\"\n"),
            "5:9",
            "step[1].tempo",
            "100ms is shorter than the minimum of 200ms for a tempo",
        ),
        case(
            "tempo as a range",
            format!("{HEAD}[[step]]\nname = \"A\"\nreps = 5\ntempo = \"1s-2s\"\n"),
            "5:9",
            "step[1].tempo",
            "is a range, but a tempo is one duration",
        ),
        case(
            "hold too long",
            format!("{HEAD}[[step]]\nname = \"A\"\nreps = 5\nhold = \"11m\"\n"),
            "5:8",
            "step[1].hold",
            "11m is longer than the limit of 10m for a hold",
        ),
        case(
            "hold too short",
            format!("{HEAD}[[step]]\nname = \"A\"\nreps = 5\nhold = \"500ms\"\n"),
            "5:8",
            "step[1].hold",
            "write \"0s\" for no hold at all",
        ),
        case(
            "rest too long",
            format!("{HEAD}[[step]]\nname = \"A\"\nreps = 5\nrest = \"1h\"\n"),
            "5:8",
            "step[1].rest",
            "1h is longer than the limit of 10m for a rest",
        ),
        case(
            "too many rounds",
            format!("{HEAD}[[step]]\nname = \"A\"\nreps = 5\nrounds = 1000\n"),
            "5:10",
            "step[1].rounds",
            "1000 rounds is more than the limit of 50",
        ),
        case(
            "too many positions",
            format!("{HEAD}[[step]]\nname = \"A\"\nreps = 5\npositions = 500\n"),
            "5:13",
            "step[1].positions",
            "500 positions is more than the limit of 100",
        ),
        case(
            "zero positions",
            format!("{HEAD}[[step]]\nname = \"A\"\nreps = 5\npositions = 0\n"),
            "5:13",
            "step[1].positions",
            "0 is not a valid count",
        ),
        case(
            "empty position list",
            format!("{HEAD}[[step]]\nname = \"A\"\nreps = 5\npositions = []\n"),
            "5:13",
            "step[1].positions",
            "the list of positions is empty",
        ),
        case(
            "move without positions",
            format!("{HEAD}[[step]]\nname = \"A\"\nreps = 5\nmove = \"Move down.\"\n"),
            "5:1",
            "step[1].move",
            "`move` is spoken between positions; add `positions`",
        ),
        case(
            "empty sides list",
            format!("{HEAD}[[step]]\nname = \"A\"\nreps = 5\nsides = []\n"),
            "5:9",
            "step[1].sides",
            "the list of sides is empty",
        ),
        case(
            "sides as one string",
            format!("{HEAD}[[step]]\nname = \"A\"\nreps = 5\nsides = \"left\"\n"),
            "5:9",
            "step[1].sides",
            "expected a list of side names",
        ),
        case(
            "duplicate side names",
            format!("{HEAD}[[step]]\nname = \"A\"\nreps = 5\nsides = [\"left\", \"Left\"]\n"),
            "5:18",
            "step[1].sides[2]",
            "the side \"Left\" is named twice",
        ),
        case(
            "too many sides",
            format!(
                "{HEAD}[[step]]\nname = \"A\"\nreps = 5\nsides = [{}]\n",
                (1..=9)
                    .map(|i| format!("\"s{i}\""))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            "5:50",
            "step[1].sides[9]",
            "9 sides are more than the limit of 8",
        ),
        case(
            "too much work in one step",
            format!("{HEAD}[[step]]\nname = \"A\"\nreps = 1000\nrounds = 50\n"),
            "2:1",
            "step[1]",
            "50000 repetitions",
        ),
        case(
            "too much work in the routine",
            format!(
                "{HEAD}{}",
                steps(6, 1000).replace("reps", "rounds = 20\nreps")
            ),
            "22:1",
            "step[6]",
            "more than the limit of 100000 for a routine",
        ),
        case(
            "huge string",
            format!(
                "{HEAD}[[step]]\nname = \"{}\"\nreps = 1\n",
                "a".repeat(1001)
            ),
            "3:8",
            "step[1].name",
            "1001 characters long, more than the limit of 1000",
        ),
        case(
            "control character",
            format!("{HEAD}[[step]]\nname = \"Knead\\u0007\"\nreps = 1\n"),
            "3:8",
            "step[1].name",
            "control character U+0007",
        ),
        case(
            "escape sequence in a side name",
            format!("{HEAD}[[step]]\nname = \"A\"\nreps = 1\nsides = [\"\\u001b[31mleft\"]\n"),
            "5:10",
            "step[1].sides[1]",
            "control character U+001B",
        ),
        // parts
        case(
            "unknown part key",
            format!("{HEAD}[[step]]\nname = \"A\"\n[[step.part]]\nname = \"P\"\nrpes = 3\n"),
            "6:1",
            "step[1].part[1].rpes",
            "did you mean `reps`?",
        ),
        case(
            "bad time in a part",
            format!(
                "{HEAD}[[step]]\nname = \"A\"\n[[step.part]]\nname = \"P\"\nreps = 3\n\
                 [[step.part]]\nname = \"Q\"\ntime = \"1-2m\"\n"
            ),
            "9:8",
            "step[1].part[2].time",
            "write both ends with a unit",
        ),
        case(
            "part without work",
            format!("{HEAD}[[step]]\nname = \"A\"\n  [[step.part]]\n  name = \"P\"\n"),
            "4:3",
            "step[1].part[1]",
            "the part has no `time` or `reps`",
        ),
        case(
            "parts and reps together",
            format!(
                "{HEAD}[[step]]\nname = \"A\"\nreps = 3\n  [[step.part]]\n  name = \"P\"\n  reps = 2\n"
            ),
            "5:3",
            "step[1].part",
            "this one has `reps` and [[step.part]]",
        ),
        case(
            "parts nested in parts",
            format!(
                "{HEAD}[[step]]\nname = \"A\"\n[[step.part]]\nname = \"P\"\nreps = 2\n\
                 [[step.part.part]]\nname = \"Q\"\nreps = 1\n"
            ),
            "7:1",
            "step[1].part[1].part",
            "parts nested in parts",
        ),
        case(
            "too many parts",
            format!(
                "{HEAD}[[step]]\nname = \"A\"\n{}",
                "[[step.part]]\nname = \"P\"\nreps = 1\n".repeat(51)
            ),
            "154:1",
            "step[1].part[51]",
            "51 parts are more than the limit of 50",
        ),
    ]
}

fn first_problem(text: &str) -> massage_cue::routine::Problem {
    match parse_routine(text, Path::new("routines/bad.toml")) {
        Ok(routine) => panic!("accepted a bad routine: {routine:?}"),
        Err(err) => err
            .problems()
            .first()
            .cloned()
            .unwrap_or_else(|| panic!("no problems in {err}")),
    }
}

#[test]
fn every_bad_routine_names_the_place_the_key_and_the_fix() {
    let cases = cases();
    assert!(cases.len() >= 30);
    let mut failures = Vec::new();
    for case in &cases {
        let problem = first_problem(&case.text);
        let shown = problem.to_string();
        let at = format!("{}:{}", problem.line, problem.column);
        if at != case.at
            || problem.key != case.key
            || !shown.contains(case.says)
            || !shown.starts_with(&format!("routines/bad.toml:{at}: "))
        {
            failures.push(format!(
                "{}: expected {} `{}` \"{}\", got:\n{shown}",
                case.name, case.at, case.key, case.says
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}

#[test]
fn a_misspelled_key_is_the_only_problem_reported() {
    // `nmae` and `rpes` leave the step without a name and work; saying so
    // as well would only repeat the misspellings
    let err = parse_routine(
        "name = \"Typos\"\n[[step]]\nnmae = \"A\"\nrpes = 3\n",
        Path::new("typos.toml"),
    )
    .unwrap_err();
    let shown: Vec<String> = err.problems().iter().map(|p| p.to_string()).collect();
    assert_eq!(
        shown,
        [
            "typos.toml:3:1: step[1].nmae: unknown key `nmae`\n  hint: did you mean `name`?",
            "typos.toml:4:1: step[1].rpes: unknown key `rpes`\n  hint: did you mean `reps`?",
        ]
    );
}

#[test]
fn case_names_are_distinct() {
    let cases = cases();
    let mut names: Vec<_> = cases.iter().map(|c| c.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), cases.len());
}

/// A folder of its own under the system temp folder, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "massage-cue-test-{label}-{}-{:?}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        fs::create_dir_all(&dir).expect("create a temp folder");
        TempDir(dir)
    }

    fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.0.join(name);
        fs::write(&path, contents).expect("write a test file");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

const GOOD: &str = "name = \"Good\"\n[[step]]\nname = \"Knead\"\nreps = 10\n";
const BAD: &str = "name = \"Bad\"\n[[step]]\nname = \"Knead\"\nreps = 0\n";

#[test]
fn a_missing_file_is_named_in_the_error() {
    let dir = TempDir::new("missing");
    let path = dir.0.join("nowhere.toml");
    let err = load_routine(&path).unwrap_err();
    assert!(matches!(err, RoutineError::Read { .. }), "{err:?}");
    assert!(err.to_string().contains("nowhere.toml"), "{err}");
}

#[test]
fn a_file_over_one_mebibyte_is_refused_unread() {
    let dir = TempDir::new("large");
    let mut text = String::from(GOOD);
    text.push_str(&"# padding\n".repeat(110_000));
    let path = dir.write("large.toml", text);
    let err = load_routine(&path).unwrap_err();
    assert!(matches!(err, RoutineError::TooLarge { .. }), "{err:?}");
    assert!(err.to_string().contains("1 MiB"), "{err}");
}

#[test]
fn a_file_that_is_not_utf8_is_placed_exactly() {
    let dir = TempDir::new("latin1");
    let path = dir.write("latin1.toml", b"name = \"Bad\"\n# caf\xe9\n".as_slice());
    let err = load_routine(&path).unwrap_err();
    let problem = &err.problems()[0];
    assert_eq!((problem.line, problem.column), (2, 6));
    assert!(problem.message.contains("not UTF-8"), "{err}");
}

#[test]
fn a_loaded_routine_knows_its_file() {
    let dir = TempDir::new("load");
    let path = dir.write("good.toml", GOOD);
    let routine = load_routine(&path).expect("a valid routine");
    assert_eq!(routine.source.as_deref(), Some(path.as_path()));
    assert_eq!(routine.steps[0].line, 2);
}

#[test]
fn check_exits_0_for_good_files_and_2_for_bad_ones() {
    let dir = TempDir::new("check");
    let good = dir.write("good.toml", GOOD);
    let bad = dir.write("bad.toml", BAD);
    let bin = env!("CARGO_BIN_EXE_massage-cue");

    let ok = Command::new(bin)
        .arg("check")
        .arg(&good)
        .output()
        .expect("run massage-cue check");
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert_eq!(ok.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains(&format!("{}: ok", good.display())),
        "{stdout}"
    );

    let failed = Command::new(bin)
        .arg("check")
        .arg(&good)
        .arg(&bad)
        .output()
        .expect("run massage-cue check");
    let stdout = String::from_utf8_lossy(&failed.stdout);
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert_eq!(failed.status.code(), Some(2), "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!("{}: ok", good.display())),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "{}:4:8: step[1].reps: 0 is not a valid count",
            bad.display()
        )),
        "{stdout}"
    );
    assert!(
        stderr.contains("1 of 2 routine files has errors"),
        "{stderr}"
    );
}

#[test]
fn check_prints_planner_warnings_for_a_valid_routine() {
    // "one", "two"... cannot be said in a fifth of a second
    let dir = TempDir::new("warn");
    let fast = dir.write(
        "fast.toml",
        "name = \"Fast\"\n[[step]]\nname = \"Quick taps\"\nreps = 100\ntempo = \"200ms\"\n",
    );
    let output = Command::new(env!("CARGO_BIN_EXE_massage-cue"))
        .arg("check")
        .arg(&fast)
        .output()
        .expect("run massage-cue check");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains(&format!("{}: warning: ", fast.display())),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("{}: ok", fast.display())),
        "{stdout}"
    );
}
