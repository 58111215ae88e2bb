//! The bundled routines: every one reads without error, plans well at every
//! level and detail, fits the lengths it recommends, and its plan matches
//! the reviewed golden file in `tests/golden/` (set `UPDATE_GOLDEN=1` to
//! write them anew after a deliberate change, then review the diff).

use std::fs;
use std::path::{Path, PathBuf};

use massage_cue::display::plan_table;
use massage_cue::plan::{Detail, Level, Options, Plan, plan};
use massage_cue::routine::{Routine, load_routine};
use massage_cue::speech::Estimate;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn bundled() -> Vec<(String, Routine)> {
    let mut files: Vec<PathBuf> = fs::read_dir(root().join("routines"))
        .expect("routines/ exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let stem = p
                .file_stem()
                .and_then(|s| s.to_str())
                .expect("a stem")
                .to_string();
            let routine = load_routine(&p).unwrap_or_else(|e| panic!("{e}"));
            (stem, routine)
        })
        .collect()
}

fn assert_well_formed(name: &str, p: &Plan) {
    assert!(!p.cues.is_empty(), "{name}: no cues");
    for pair in p.cues.windows(2) {
        assert!(
            pair[0].end_ms() <= pair[1].at_ms,
            "{name}: {:?} overlaps {:?}",
            pair[0],
            pair[1]
        );
    }
    assert_eq!(
        p.total_ms,
        p.cues.last().map_or(0, |c| c.end_ms()),
        "{name}"
    );
    for pair in p.steps.windows(2) {
        assert_eq!(
            pair[0].end_ms, pair[1].start_ms,
            "{name}: steps are contiguous"
        );
    }
}

#[test]
fn there_are_routines_for_all_four_articles() {
    let names: Vec<String> = bundled().into_iter().map(|(n, _)| n).collect();
    assert!(names.len() >= 4, "{names:?}");
}

#[test]
fn every_bundled_routine_plans_at_every_level_and_detail() {
    for (name, routine) in bundled() {
        for level in [Level::Low, Level::Mid, Level::High] {
            for detail in [Detail::Brief, Detail::Normal, Detail::Full] {
                let options = Options {
                    level,
                    detail,
                    ..Options::default()
                };
                let p =
                    plan(&routine, &options, &Estimate).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_well_formed(&name, &p);
                assert!(
                    p.warnings.is_empty(),
                    "{name} {level:?} {detail:?}: {:?}",
                    p.warnings
                );
                assert_eq!(p.steps.len(), routine.steps.len());
            }
        }
    }
}

#[test]
fn recommended_lengths_are_met_within_one_repetition() {
    for (name, routine) in bundled() {
        let low = plan(
            &routine,
            &Options {
                level: Level::Low,
                ..Options::default()
            },
            &Estimate,
        )
        .expect("plans")
        .total_ms;
        let high = plan(
            &routine,
            &Options {
                level: Level::High,
                ..Options::default()
            },
            &Estimate,
        )
        .expect("plans")
        .total_ms;
        for k in 0..=4 {
            let target = low + (high - low) * k / 4;
            let options = Options {
                length: Some(target),
                ..Options::default()
            };
            let p = plan(&routine, &options, &Estimate).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_well_formed(&name, &p);
            // one repetition of the slowest counted step, or one second of a timed one
            let one_rep = 8_000;
            assert!(
                p.total_ms.abs_diff(target) <= one_rep,
                "{name}: wanted {target} ms, planned {} ms",
                p.total_ms
            );
        }
    }
}

#[test]
fn plans_match_their_golden_files() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let dir = root().join("tests/golden");
    let mut stale = Vec::new();
    for (name, routine) in bundled() {
        let p = plan(&routine, &Options::default(), &Estimate).expect("plans");
        let text = plan_table(&p);
        let file = dir.join(format!("{name}.txt"));
        if update {
            fs::create_dir_all(&dir).expect("golden dir");
            fs::write(&file, &text).expect("write golden");
            continue;
        }
        match fs::read_to_string(&file) {
            Ok(golden) if golden == text => {}
            Ok(golden) => stale.push(format!(
                "{}: differs\n{}",
                rel(&file),
                first_difference(&golden, &text)
            )),
            Err(_) => stale.push(format!("{}: missing", rel(&file))),
        }
    }
    assert!(
        stale.is_empty(),
        "golden plans out of date (UPDATE_GOLDEN=1 rewrites them):\n{}",
        stale.join("\n")
    );
}

fn rel(p: &Path) -> String {
    p.strip_prefix(root()).unwrap_or(p).display().to_string()
}

fn first_difference(a: &str, b: &str) -> String {
    for (i, (x, y)) in a.lines().zip(b.lines()).enumerate() {
        if x != y {
            return format!("line {}:\n  golden: {x}\n  now:    {y}", i + 1);
        }
    }
    format!(
        "lengths differ: {} vs {} lines",
        a.lines().count(),
        b.lines().count()
    )
}
