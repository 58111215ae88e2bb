//! The bundled routines: every one reads without error, plans well at every
//! level and detail, fits the lengths it recommends, and its plan matches
//! the reviewed golden file in `tests/golden/` (set `UPDATE_GOLDEN=1` to
//! write them anew after a deliberate change, then review the diff).

use std::fs;
use std::path::{Path, PathBuf};

use crate::daemon::Home;
use massage_cue::display::plan_table;
use massage_cue::plan::{CueKind, Detail, Level, Options, Plan, plan};
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

/// Whether a cue is guidance inside a stretch rather than a change.
fn is_guidance(kind: CueKind) -> bool {
    matches!(
        kind,
        CueKind::Halfway
            | CueKind::Remaining
            | CueKind::Countdown
            | CueKind::Next
            | CueKind::Breathe
    )
}

#[test]
fn every_bundled_routine_cues_like_a_teacher() {
    for (name, routine) in bundled() {
        for level in [Level::Low, Level::Mid, Level::High] {
            let options = Options {
                level,
                ..Options::default()
            };
            let p = plan(&routine, &options, &Estimate).expect("plans");
            let cues = &p.cues;
            for (i, cue) in cues.iter().enumerate() {
                let starts_work = |c: &&massage_cue::plan::Cue| {
                    matches!(
                        c.kind,
                        CueKind::Begin | CueKind::Count | CueKind::Tick | CueKind::Press
                    )
                };
                // every change is said before the time to make it: the
                // work after a side switch or a step's announcement starts
                // at least that long after the last thing said
                let owed = match cue.kind {
                    CueKind::Side if cue.text.starts_with("Switch") => 3_000,
                    CueKind::Announce | CueKind::Part => 3_000,
                    _ => 0,
                };
                if owed > 0
                    && let Some(work) = cues[i + 1..].iter().find(starts_work)
                {
                    let said = cues[i..]
                        .iter()
                        .take_while(|c| c.at_ms < work.at_ms)
                        .map(|c| c.end_ms())
                        .max()
                        .expect("the change itself");
                    assert!(
                        work.at_ms >= said + owed,
                        "{name} {level:?}: work at {} ms only {} ms after \"{}\"",
                        work.at_ms,
                        work.at_ms - said,
                        cue.text
                    );
                }
                // no stretch of 30 s or more without a time cue
                if cue.kind == CueKind::Begin {
                    let end = cues[i + 1..]
                        .iter()
                        .find(|c| !is_guidance(c.kind))
                        .map_or(p.total_ms, |c| c.at_ms);
                    if end - cue.at_ms >= 30_000 {
                        assert!(
                            cues[i + 1..]
                                .iter()
                                .take_while(|c| c.at_ms < end)
                                .any(|c| matches!(c.kind, CueKind::Halfway | CueKind::Remaining)),
                            "{name} {level:?}: no time cue in the stretch at {} ms",
                            cue.at_ms
                        );
                    }
                }
                // every hold of 20 s or more is announced with its length
                // and has a cue inside it
                if cue.kind == CueKind::Press {
                    let release = cues[i..]
                        .iter()
                        .find(|c| c.kind == CueKind::Release)
                        .expect("a release");
                    if release.at_ms - cue.at_ms >= 20_000 {
                        assert!(
                            cues[i + 1..]
                                .iter()
                                .take_while(|c| c.at_ms < release.at_ms)
                                .any(|c| matches!(c.kind, CueKind::Halfway | CueKind::Remaining)),
                            "{name} {level:?}: a silent hold at {} ms",
                            cue.at_ms
                        );
                        assert!(
                            cues[..i]
                                .iter()
                                .rev()
                                .any(|c| c.step == cue.step && c.text.starts_with("Hold")),
                            "{name} {level:?}: the hold at {} ms is not announced with its length",
                            cue.at_ms
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn lower_back_keeps_its_proportions_at_any_length() {
    let (_, routine) = bundled()
        .into_iter()
        .find(|(n, _)| n == "lower-back")
        .expect("lower-back is bundled");
    for minutes in [10, 25, 40] {
        let options = Options {
            length: Some(minutes * 60_000),
            ..Options::default()
        };
        let p = plan(&routine, &options, &Estimate).expect("plans");
        let share = |name: &str| {
            let s = p.steps.iter().find(|s| s.name == name).expect("the step");
            (s.end_ms - s.start_ms) as f64 / p.total_ms as f64
        };
        let longest = p
            .steps
            .iter()
            .max_by_key(|s| s.end_ms - s.start_ms)
            .expect("steps");
        assert_eq!(
            longest.name, "Kneading",
            "{minutes}m: deep kneading is the longest"
        );
        assert!(
            share("Rubbing") <= 0.30,
            "{minutes}m: rubbing takes {:.0}%",
            share("Rubbing") * 100.0
        );
        assert!(
            share("Patting") <= 0.10,
            "{minutes}m: patting takes {:.0}%",
            share("Patting") * 100.0
        );
    }
}

/// `docs/routines.md` shows a routine and what `plan --json` says of it:
/// the real binary still says the same things in the same order, each
/// within a second and a half of the time shown.
#[test]
fn the_worked_example_in_the_docs_is_what_the_planner_says() {
    let doc = fs::read_to_string(root().join("docs/routines.md")).expect("docs/routines.md");
    let section = &doc[doc.find("### A worked example").expect("the section")..];
    let block = |fence: &str| {
        let start = section.find(fence).expect("the block") + fence.len();
        section[start..][..section[start..].find("```").expect("closed")].to_string()
    };
    let toml = block("```toml\n");
    let shown = block("```text\n");
    let home = Home::new();
    let file = home.routine("back-points.toml", &toml);
    let plan = home.plan_json(&[file.to_str().unwrap()]);
    let cues = plan["cues"].as_array().expect("cues");
    let lines: Vec<&str> = shown.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(lines.len() > 30, "the example shows the first side");
    for (line, cue) in lines.iter().zip(cues) {
        let mut words = line.split_whitespace();
        let clock = words.next().expect("a time");
        let kind = words.next().expect("a kind");
        let text = words.collect::<Vec<_>>().join(" ");
        let (m, s) = clock.split_once(':').expect("m:ss.t");
        let at_ms = (m.parse::<f64>().unwrap() * 60.0 + s.parse::<f64>().unwrap()) * 1000.0;
        assert_eq!(
            (kind, text.as_str()),
            (cue["kind"].as_str().unwrap(), cue["text"].as_str().unwrap()),
            "{line}"
        );
        let planned = cue["at_ms"].as_f64().unwrap();
        assert!(
            (planned - at_ms).abs() <= 1_500.0,
            "{line}: planned at {planned} ms"
        );
    }
}
