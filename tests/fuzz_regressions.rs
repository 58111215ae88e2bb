//! The inputs kept in `tests/fuzz_cases/`: what fuzzing found (each fixed
//! since), and inputs it reduced to a telling error. Each goes through the
//! same checks as under `scripts/fuzz` (`fuzz/checks.rs`): no panic, a clean
//! error, routine errors at a real file:line:column, plans in order, and
//! protocol lines that come back as they went.

use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

#[path = "../fuzz/checks.rs"]
mod checks;

use checks::RoutineOutcome;

/// The slowest a case may be in a debug build (the fuzz targets, optimised,
/// allow 10 s).
const SLOWEST: Duration = Duration::from_secs(60);

fn cases(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz_cases")
        .join(target);
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a readable entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no cases in {}", dir.display());
    files
}

/// Runs `check` on every case of `target`, each on a thread of its own,
/// then names every case that panicked or took too long (a search that
/// never ends fails here rather than hanging the test).
fn run_all<T: Send + 'static>(target: &str, check: fn(&[u8]) -> T) -> Vec<(PathBuf, T)> {
    let mut failures = Vec::new();
    let mut outcomes = Vec::new();
    for file in cases(target) {
        let data = fs::read(&file).expect("a readable case");
        let (done, result) = mpsc::channel();
        thread::spawn(move || {
            let _ = done.send(catch_unwind(AssertUnwindSafe(|| check(&data))));
        });
        match result.recv_timeout(SLOWEST) {
            Ok(Ok(outcome)) => outcomes.push((file, outcome)),
            Ok(Err(_)) => failures.push(format!("{}: panicked (see above)", file.display())),
            Err(_) => failures.push(format!(
                "{}: still running after {SLOWEST:?}",
                file.display()
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    outcomes
}

#[test]
fn routine_cases_plan_or_fail_with_a_located_error() {
    let outcomes = run_all("routine", checks::routine);
    for (file, outcome) in &outcomes {
        if let RoutineOutcome::Invalid(shown) = outcome {
            // fuzz.toml:LINE:COLUMN: ...
            let place: Vec<&str> = shown.splitn(4, ':').collect();
            assert!(
                place.len() == 4
                    && place[0] == checks::ROUTINE_FILE
                    && place[1].parse::<u32>().is_ok_and(|n| n >= 1)
                    && place[2].parse::<u32>().is_ok_and(|n| n >= 1),
                "{}: {shown}",
                file.display()
            );
        }
    }
}

#[test]
fn protocol_cases_decode_or_fail_cleanly() {
    let outcomes = run_all("protocol", checks::protocol);
    for (file, outcome) in &outcomes {
        for error in [&outcome.request, &outcome.response].into_iter().flatten() {
            assert!(!error.trim().is_empty(), "{}", file.display());
        }
    }
}
