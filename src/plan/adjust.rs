//! Changing a session under way: `more` and `less` lengthen or shorten the
//! work of the stretch at hand, and with a booked length the steps still
//! to come are fitted again (within their ranges) so that the session
//! still ends on time, after such a change or after a skip.
//!
//! # The rule
//!
//! A change of `d` goes to the stretch under way and the stretches after it
//! in the same step that do the same work (the other side, the next places,
//! the next held repetitions), shared evenly, so that they stay alike: a
//! minute more on the left side of a step of two sides is half a minute
//! more on each. What changes is what the step's kind allows: the time of
//! timed work, the number of repetitions of counted work (at the same
//! tempo), the length of each hold of held work; in a step in parts, the
//! part under way. The change is rounded to whole seconds, repetitions or
//! tenths of a second, and never less than one of them. Less never takes
//! timed work under 5 seconds, a hold under a second, repetitions under
//! one, nor the stretch under way to less than 2 seconds from where the
//! session is.
//!
//! The routine's ranges bound `--length` and `--level`, not `more` and
//! `less`: the giver asked for it. The steps that follow stay within their
//! ranges when they are fitted again.
//!
//! The plan is changed from the start of the stretch under way: what was
//! played before it stays as it was, so the session carries on from where
//! it is without a jump.

use thiserror::Error;

use crate::ms::Ms;
use crate::routine::Routine;
use crate::speech::ClipLengths;

use super::choice::{self, Knob};
use super::{CueKind, FIT_CUES, Options, Plan, PlannedStep, WorkKind, fit, timeline};
use crate::routine::limits::{MAX_HOLD, MAX_REPS, MAX_TIME};

/// The least timed work `less` leaves in a stretch.
pub const MIN_TIMED: Ms = 5_000;
/// The shortest hold `less` leaves.
pub const MIN_HOLD: Ms = 1_000;
/// `less` leaves at least this much of the stretch under way.
pub const KEEP: Ms = 2_000;

/// A plan changed under way.
#[derive(Debug, Clone, PartialEq)]
pub struct Adjusted {
    pub plan: Plan,
    /// How much longer the session now is than its booked total (negative:
    /// it ends that much early); `None` without a booking.
    pub over_ms: Option<i64>,
}

/// Why a session cannot be changed as asked.
#[derive(Debug, Error, PartialEq)]
pub enum AdjustError {
    /// The session is in its opening or closing, or at a step that waits.
    #[error(
        "there is no work under way to lengthen or shorten here (the session's opening or end, or a step that waits)"
    )]
    NoWork,
    /// `less` would take the work under its least.
    #[error("this stretch cannot be shortened any further")]
    NoRoom,
    /// `more` would take the work past the most a routine may ask.
    #[error("this stretch cannot be lengthened any further")]
    AtMost,
    /// The plan was not made from this routine, or values to make it
    /// again are out of bounds.
    #[error("the session's plan does not match its routine")]
    Mismatch,
}

/// The plan `plan` changed at offset `at` (where the session is): the work
/// of the stretch under way changed by `change_ms` (none for 0), then, with
/// a `booked` total, the steps after it (or from the step that starts at
/// `at`) fitted again so that the whole plan lasts `booked`.
pub fn adjust(
    routine: &Routine,
    options: &Options,
    lengths: &dyn ClipLengths,
    plan: &Plan,
    at: Ms,
    change_ms: i64,
    booked: Option<Ms>,
) -> Result<Adjusted, AdjustError> {
    let knobs = choice::knobs(routine);
    if plan.values.len() != knobs.len() || plan.steps.len() != routine.steps.len() {
        return Err(AdjustError::Mismatch);
    }
    let build = builder(routine, options, lengths, plan);
    let Some((splice, free_from)) = change_point(plan, at, change_ms)? else {
        // the closing: nothing is left to change
        return Ok(Adjusted {
            over_ms: booked.map(|b| signed(plan.total_ms) - signed(b)),
            plan: plan.clone(),
        });
    };
    let begun = has_begun(plan, splice, at);
    let splice_at = |p: &Plan| splice_point(p, splice, begun);
    let old_pos = splice_at(plan);

    let mut values = plan.values.clone();
    if change_ms != 0 {
        let i = splice.ok_or(AdjustError::NoWork)?;
        // where the stretch under way ends, once changed
        let end_of = |values: &[u64]| {
            let new = build(values);
            let end = new
                .stretches
                .get(i + 1)
                .map_or(new.total_ms, |next| next.start_ms);
            end - splice_at(&new) + old_pos
        };
        values = changed(plan, i, at, change_ms, &end_of)?;
    }

    if let Some(booked) = booked {
        let per_step = choice::knobs_per_step(routine);
        let first_free: usize = per_step[..free_from.min(per_step.len())].iter().sum();
        let frozen: Vec<Knob> = knobs
            .iter()
            .enumerate()
            .map(|(k, knob)| {
                if k < first_free {
                    Knob {
                        low: values[k],
                        high: values[k],
                        ..*knob
                    }
                } else {
                    *knob
                }
            })
            .collect();
        // where the splice falls in a plan built anew depends only on the
        // frozen values
        let new_pos = splice_at(&build(&values));
        let target = (signed(booked) + signed(new_pos) - signed(old_pos)).max(0) as Ms;
        let built = std::cell::Cell::new(0usize);
        let spent = || built.get() >= FIT_CUES;
        let mut total = |values: &[u64]| {
            let new = build(values);
            built.set(built.get() + new.cues.len());
            new.total_ms
        };
        values = match fit::fit(&frozen, target, 1_000, &spent, &mut total) {
            Ok(values) => values,
            Err((min, _)) => {
                let end = if target < min { 0.0 } else { 1.0 };
                frozen.iter().map(|k| k.at(end)).collect()
            }
        };
    }

    let new = build(&values);
    let new_pos = splice_at(&new);
    let plan = splice_plans(plan, new, old_pos, new_pos, splice);
    Ok(Adjusted {
        over_ms: booked.map(|b| signed(plan.total_ms) - signed(b)),
        plan,
    })
}

/// Makes again a change [`adjust()`] made: `plan` changed at `at` from
/// the stretch under way (`change_ms` other than 0) or from where a skip
/// landed, on to the plan of `values` (the changed plan's
/// [`Plan::values`]), with no fitting. A session restored after a restart
/// is brought back this way, change after change.
pub fn replay(
    routine: &Routine,
    options: &Options,
    lengths: &dyn ClipLengths,
    plan: &Plan,
    at: Ms,
    change_ms: i64,
    values: &[u64],
) -> Result<Plan, AdjustError> {
    let knobs = choice::knobs(routine);
    let in_bounds = knobs.iter().zip(values).all(|(knob, &v)| {
        if knob.coarse {
            (knob.low..=knob.high).contains(&v)
        } else if knob.unit == 1 {
            (1..=knob.high.max(MAX_REPS)).contains(&v)
        } else {
            (1..=knob.high.max(MAX_TIME)).contains(&v)
        }
    });
    if values.len() != knobs.len()
        || !in_bounds
        || plan.values.len() != knobs.len()
        || plan.steps.len() != routine.steps.len()
    {
        return Err(AdjustError::Mismatch);
    }
    let build = builder(routine, options, lengths, plan);
    let Some((splice, _)) = change_point(plan, at, change_ms)? else {
        return Ok(plan.clone());
    };
    let begun = has_begun(plan, splice, at);
    let old_pos = splice_point(plan, splice, begun);
    let new = build(values);
    let new_pos = splice_point(&new, splice, begun);
    Ok(splice_plans(plan, new, old_pos, new_pos, splice))
}

/// Builds plans with the same opening as `plan`, for other values.
fn builder<'a>(
    routine: &'a Routine,
    options: &'a Options,
    lengths: &'a dyn ClipLengths,
    plan: &Plan,
) -> impl Fn(&[u64]) -> Plan + 'a {
    let phrase = plan
        .cues
        .iter()
        .find(|c| c.kind == CueKind::Length)
        .map(|c| c.text.clone());
    move |values: &[u64]| timeline::build(routine, options, lengths, values, phrase.as_deref())
}

/// Where the plan changes when the session is at `at`.
struct ChangePoint {
    /// The stretch it changes from; none in the opening.
    splice: Option<usize>,
    /// The first step that may be fitted again.
    free_from: usize,
}

/// Where the plan changes at `at`: `None` in the closing, where nothing is
/// left to change.
fn change_point(
    plan: &Plan,
    at: Ms,
    change_ms: i64,
) -> Result<Option<(Option<usize>, usize)>, AdjustError> {
    let point = if change_ms != 0 {
        let i = plan.stretch_at(at).ok_or(AdjustError::NoWork)?;
        plan.stretches[i].work.ok_or(AdjustError::NoWork)?;
        ChangePoint {
            splice: Some(i),
            free_from: plan.stretches[i].step + 1,
        }
    } else {
        match plan.step_at(at) {
            // a skip landed at the start of a step: it may be fitted too
            Some(s) if at <= plan.steps[s].start_ms => ChangePoint {
                splice: plan.stretches.iter().position(|st| st.step == s),
                free_from: s,
            },
            Some(s) => ChangePoint {
                splice: plan.stretch_at(at),
                free_from: s + 1,
            },
            None if plan.steps.first().is_some_and(|s| at < s.start_ms) => ChangePoint {
                splice: None,
                free_from: 0,
            },
            None => return Ok(None),
        }
    };
    Ok(Some((point.splice, point.free_from)))
}

/// Where plan `p` changes from: the start of stretch `splice`, or of its
/// work when that had `begun` where the session is (its announcement, said
/// already, may have other words now); the session's start in the opening.
fn splice_point(p: &Plan, splice: Option<usize>, begun: bool) -> Ms {
    match splice {
        Some(i) if begun => work_start(p, i),
        Some(i) => p.stretches[i].start_ms,
        None => 0,
    }
}

/// Whether the work of stretch `splice` of `plan` has begun at `at`.
fn has_begun(plan: &Plan, splice: Option<usize>, at: Ms) -> bool {
    splice.is_some_and(|i| at >= work_start(plan, i))
}

/// Where the work of stretch `i` begins: its first count, tick, press or
/// "Begin.", or its start when it has none.
fn work_start(plan: &Plan, i: usize) -> Ms {
    let stretch = &plan.stretches[i];
    let end = plan
        .stretches
        .get(i + 1)
        .map_or(plan.total_ms, |s| s.start_ms);
    let first = plan.cues.partition_point(|c| c.at_ms < stretch.start_ms);
    plan.cues[first..]
        .iter()
        .take_while(|c| c.at_ms < end)
        .find(|c| {
            matches!(
                c.kind,
                CueKind::Begin | CueKind::Count | CueKind::Tick | CueKind::Press
            )
        })
        .map_or(stretch.start_ms, |c| c.at_ms)
}

fn signed(ms: Ms) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

/// The values with the work of stretch `i` (and of the stretches after it
/// in its step that share its value) changed by about `change_ms` in all.
fn changed(
    plan: &Plan,
    i: usize,
    at: Ms,
    change_ms: i64,
    end_of: &dyn Fn(&[u64]) -> Ms,
) -> Result<Vec<u64>, AdjustError> {
    let stretch = &plan.stretches[i];
    let work = stretch.work.ok_or(AdjustError::NoWork)?;
    let sharing = plan.stretches[i..]
        .iter()
        .take_while(|s| s.step == stretch.step)
        .filter(|s| s.work.is_some_and(|w| w.value == work.value))
        .count()
        .max(1) as i64;
    let each = change_ms / sharing;
    let now = plan.values[work.value];
    let (unit, least, most, units) = match work.kind {
        WorkKind::Timed => (1_000, MIN_TIMED, MAX_TIME, rounded(each, 1_000)),
        WorkKind::Hold => (100, MIN_HOLD, MAX_HOLD, rounded(each, 100)),
        WorkKind::Reps { tempo } => (1, 1, MAX_REPS, rounded(each, signed(tempo.max(1)))),
    };
    // at least one unit, the way it was asked; never past what a routine
    // may ask (nor further past it)
    let units = if units == 0 {
        change_ms.signum()
    } else {
        units
    };
    let wanted = (signed(now) + units * unit)
        .max(signed(least.min(now)))
        .min(signed(most.max(now))) as u64;
    if wanted == now {
        return Err(if change_ms > 0 {
            AdjustError::AtMost
        } else {
            AdjustError::NoRoom
        });
    }
    let with = |value: u64| {
        let mut values = plan.values.clone();
        values[work.value] = value;
        values
    };
    if wanted > now {
        return Ok(with(wanted));
    }
    // shorter: keep what the stretch under way has left above KEEP
    let fits = |value: u64| end_of(&with(value)) >= at + KEEP;
    // the most units down that still fit (fewer units down end later)
    let most = (now - wanted) / unit as u64;
    let (mut lo, mut hi) = (0u64, most);
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if fits(now - mid * unit as u64) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    if lo == 0 {
        return Err(AdjustError::NoRoom);
    }
    Ok(with(now - lo * unit as u64))
}

/// `ms` in whole `unit`s, to the nearest.
fn rounded(ms: i64, unit: i64) -> i64 {
    (ms + ms.signum() * unit / 2) / unit
}

/// `old` up to offset `old_pos` (the start of its stretch `splice`), then
/// `new` from its own offset `new_pos` (the start of the same stretch),
/// moved to follow on.
fn splice_plans(old: &Plan, new: Plan, old_pos: Ms, new_pos: Ms, splice: Option<usize>) -> Plan {
    let moved = |ms: Ms| ms - new_pos + old_pos;
    let mut cues: Vec<_> = old
        .cues
        .iter()
        .filter(|c| c.at_ms < old_pos)
        .cloned()
        .collect();
    cues.extend(
        new.cues
            .into_iter()
            .filter(|c| c.at_ms >= new_pos)
            .map(|mut c| {
                c.at_ms = moved(c.at_ms);
                c
            }),
    );
    let steps = new
        .steps
        .into_iter()
        .zip(&old.steps)
        .map(|(n, o)| PlannedStep {
            start_ms: if n.start_ms < new_pos {
                o.start_ms
            } else {
                moved(n.start_ms)
            },
            end_ms: if n.end_ms <= new_pos {
                o.end_ms
            } else {
                moved(n.end_ms)
            },
            ..n
        })
        .collect();
    let kept = splice.unwrap_or(0);
    let mut stretches = old.stretches[..kept].to_vec();
    stretches.extend(new.stretches.into_iter().skip(kept).map(|mut s| {
        s.start_ms = if s.start_ms < new_pos {
            // the stretch the change is made in began where it began
            old.stretches[kept].start_ms
        } else {
            moved(s.start_ms)
        };
        s
    }));
    Plan {
        routine: old.routine.clone(),
        total_ms: moved(new.total_ms),
        steps,
        cues,
        stretches,
        warnings: old.warnings.clone(),
        notes: old.notes.clone(),
        values: new.values,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::fixtures::{self, Words, step};
    use crate::plan::{Cue, plan};
    use crate::routine::{CountMode, Span, Step, Work};

    fn timed(low: Ms, high: Ms) -> Work {
        Work::Timed {
            time: Span { low, high },
        }
    }

    fn counted(low: u32, high: u32, tempo: Ms) -> Work {
        Work::Counted {
            reps: Span { low, high },
            tempo,
            hold: None,
            count: CountMode::Every,
        }
    }

    fn sided(mut s: Step) -> Step {
        s.sides = vec!["left".into(), "right".into()];
        s
    }

    /// Warm-up of two minutes a side; stroking at 3 s a repetition; a
    /// finish of 1 to 5 minutes that a booking can stretch or shrink.
    fn routine() -> Routine {
        fixtures::routine(
            "Test routine",
            vec![
                sided(step("Warm-up", timed(120_000, 120_000))),
                step("Stroking", counted(10, 10, 3_000)),
                step("Finish", timed(60_000, 300_000)),
            ],
        )
    }

    fn options(length: Option<Ms>) -> Options {
        Options {
            length,
            ..Options::default()
        }
    }

    fn well_formed(plan: &Plan) {
        for pair in plan.cues.windows(2) {
            assert!(pair[0].end_ms() <= pair[1].at_ms, "{pair:?} overlap");
        }
        assert_eq!(plan.total_ms, plan.cues.last().unwrap().end_ms());
        for pair in plan.steps.windows(2) {
            assert_eq!(pair[0].end_ms, pair[1].start_ms);
        }
        for pair in plan.stretches.windows(2) {
            assert!(pair[0].start_ms <= pair[1].start_ms);
        }
    }

    /// The cues before `pos`, which a change at `pos` must leave alone.
    fn before(plan: &Plan, pos: Ms) -> Vec<Cue> {
        plan.cues
            .iter()
            .filter(|c| c.at_ms < pos)
            .cloned()
            .collect()
    }

    #[test]
    fn more_on_the_first_side_shares_the_minute_with_the_second() {
        let r = routine();
        let p = plan(&r, &options(None), &Words).unwrap();
        let left = &p.stretches[0];
        let at = p.steps[0].start_ms + 30_000;
        let a = adjust(&r, &options(None), &Words, &p, at, 60_000, None).unwrap();
        well_formed(&a.plan);
        assert_eq!(a.over_ms, None);
        assert_eq!(a.plan.total_ms, p.total_ms + 60_000);
        // each side is half a minute longer
        let side =
            |plan: &Plan, i: usize| plan.stretches[i + 1].start_ms - plan.stretches[i].start_ms;
        assert_eq!(side(&a.plan, 0), side(&p, 0) + 30_000);
        assert_eq!(a.plan.steps[0].end_ms, p.steps[0].end_ms + 60_000);
        // nothing played so far moves
        assert_eq!(before(&a.plan, left.start_ms), before(&p, left.start_ms));
        assert_eq!(before(&a.plan, at), before(&p, at));
    }

    #[test]
    fn more_on_the_last_side_goes_to_it_alone() {
        let r = routine();
        let p = plan(&r, &options(None), &Words).unwrap();
        let right = p.stretches[1].start_ms;
        let at = right + 10_000;
        let a = adjust(&r, &options(None), &Words, &p, at, 60_000, None).unwrap();
        well_formed(&a.plan);
        assert_eq!(a.plan.total_ms, p.total_ms + 60_000);
        assert_eq!(before(&a.plan, at), before(&p, at));
        let halfway = |plan: &Plan| {
            plan.cues
                .iter()
                .filter(|c| c.kind == CueKind::Halfway && c.at_ms > right)
                .map(|c| c.at_ms)
                .next()
        };
        // three minutes on the right side: halfway half a minute later
        assert_eq!(halfway(&a.plan).unwrap(), halfway(&p).unwrap() + 30_000);
    }

    #[test]
    fn counted_work_gets_repetitions_at_the_same_tempo() {
        let r = routine();
        let p = plan(&r, &options(None), &Words).unwrap();
        let counts = |plan: &Plan| -> Vec<Ms> {
            plan.cues
                .iter()
                .filter(|c| c.kind == CueKind::Count && c.step == Some(1))
                .map(|c| c.at_ms)
                .collect()
        };
        let at = counts(&p)[3] + 1_000;
        let a = adjust(&r, &options(None), &Words, &p, at, 60_000, None).unwrap();
        well_formed(&a.plan);
        // 60 s at 3 s a repetition: 20 more, every count on the beat
        let new = counts(&a.plan);
        assert_eq!(new.len(), 30);
        assert!(new.windows(2).all(|w| w[1] - w[0] == 3_000));
        assert_eq!(new[..4], counts(&p)[..4]);
        assert_eq!(a.plan.steps[1].reps, Some(30));
        // less takes them away again, never the one under way
        let b = adjust(&r, &options(None), &Words, &a.plan, at, -600_000, None).unwrap();
        let fewer = counts(&b.plan);
        assert_eq!(fewer.len(), 4, "repetition 4 is under way, and kept");
        let c = adjust(
            &r,
            &options(None),
            &Words,
            &b.plan,
            fewer[3] + 1_500,
            -60_000,
            None,
        );
        assert_eq!(c, Err(AdjustError::NoRoom));
    }

    #[test]
    fn a_booking_is_kept_by_fitting_the_steps_after() {
        let r = routine();
        let booked = 8 * 60_000;
        let p = plan(&r, &options(Some(booked)), &Words).unwrap();
        assert!(p.total_ms.abs_diff(booked) <= 1_000, "{}", p.total_ms);
        let at = p.stretches[1].start_ms + 5_000;
        let a = adjust(
            &r,
            &options(Some(booked)),
            &Words,
            &p,
            at,
            60_000,
            Some(booked),
        )
        .unwrap();
        well_formed(&a.plan);
        // the finish gave its minute back, to within a second
        assert!(a.over_ms.unwrap().abs() <= 1_000, "{:?}", a.over_ms);
        let finish = |plan: &Plan| plan.steps[2].end_ms - plan.steps[2].start_ms;
        assert!(
            finish(&a.plan) + 59_000 <= finish(&p),
            "{}",
            finish(&a.plan)
        );
        assert_eq!(before(&a.plan, at), before(&p, at));

        // more than the finish can give: the session runs over, and says so
        let b = adjust(
            &r,
            &options(Some(booked)),
            &Words,
            &a.plan,
            at,
            600_000,
            Some(booked),
        )
        .unwrap();
        let over = b.over_ms.unwrap();
        // the finish is at its shortest, the rest of the ten minutes over
        assert_eq!(b.plan.values[5], 60_000);
        assert!(over > 7 * 60_000 && over < 10 * 60_000, "{over}");
        assert_eq!(b.plan.total_ms as i64 - booked as i64, over);
    }

    #[test]
    fn a_skip_is_made_up_by_the_steps_after() {
        let r = routine();
        let booked = 8 * 60_000;
        let p = plan(&r, &options(Some(booked)), &Words).unwrap();
        // skipping the stroking (30 s) from its start lands on the finish
        let skipped = p.steps[2].start_ms - p.steps[1].start_ms;
        let target = booked + skipped;
        let a = adjust(
            &r,
            &options(Some(booked)),
            &Words,
            &p,
            p.steps[2].start_ms,
            0,
            Some(target),
        )
        .unwrap();
        well_formed(&a.plan);
        assert!(a.over_ms.unwrap().abs() <= 1_000, "{:?}", a.over_ms);
        assert_eq!(
            before(&a.plan, p.steps[2].start_ms),
            before(&p, p.steps[2].start_ms)
        );
        let finish = |plan: &Plan| plan.steps[2].end_ms - plan.steps[2].start_ms;
        assert!(finish(&a.plan) >= finish(&p) + skipped - 1_000);
    }

    #[test]
    fn a_change_is_made_again_from_its_values_alone() {
        let r = routine();
        let booked = 8 * 60_000;
        let o = options(Some(booked));
        let p = plan(&r, &o, &Words).unwrap();
        let at = p.stretches[1].start_ms + 5_000;
        let a = adjust(&r, &o, &Words, &p, at, 60_000, Some(booked)).unwrap();
        let skip_to = a.plan.steps[2].start_ms;
        let b = adjust(&r, &o, &Words, &a.plan, skip_to, 0, Some(booked + 20_000)).unwrap();
        let again = replay(&r, &o, &Words, &p, at, 60_000, &a.plan.values).unwrap();
        assert_eq!(again, a.plan);
        let again = replay(&r, &o, &Words, &again, skip_to, 0, &b.plan.values).unwrap();
        assert_eq!(again, b.plan);
        // values that do not fit the routine, or are out of bounds, are not used
        let mut wrong = b.plan.values.clone();
        wrong.pop();
        assert_eq!(
            replay(&r, &o, &Words, &p, at, 60_000, &wrong),
            Err(AdjustError::Mismatch)
        );
        let mut huge = b.plan.values.clone();
        huge[3] = 4_000_000_000;
        assert_eq!(
            replay(&r, &o, &Words, &p, at, 60_000, &huge),
            Err(AdjustError::Mismatch)
        );
    }

    #[test]
    fn in_a_step_in_parts_the_part_under_way_changes() {
        let mut group = step("Legs", timed(1_000, 1_000));
        group.work = Work::Group {
            parts: vec![
                step("Stroking", timed(30_000, 30_000)),
                step("Kneading", counted(10, 10, 2_000)),
            ],
        };
        let r = fixtures::routine("Parts", vec![group]);
        let p = plan(&r, &options(None), &Words).unwrap();
        let kneading = p
            .stretches
            .iter()
            .position(|s| s.label == "Kneading")
            .unwrap();
        let at = p.stretches[kneading].start_ms + 100;
        let a = adjust(&r, &options(None), &Words, &p, at, 20_000, None).unwrap();
        well_formed(&a.plan);
        // ten more repetitions of kneading; the stroking is as it was
        let counts = a
            .plan
            .cues
            .iter()
            .filter(|c| c.kind == CueKind::Count)
            .count();
        assert_eq!(counts, 20);
        assert_eq!(a.plan.values[..4], p.values[..4]);
        let at = p.stretches[0].start_ms + 100;
        let b = adjust(&r, &options(None), &Words, &p, at, 20_000, None).unwrap();
        assert_eq!(b.plan.values[2], 50_000, "the stroking's time");
    }

    #[test]
    fn less_leaves_timed_work_at_least_five_seconds() {
        let r = routine();
        let p = plan(&r, &options(None), &Words).unwrap();
        let at = p.stretches[3].start_ms + 100;
        let a = adjust(&r, &options(None), &Words, &p, at, -3_600_000, None).unwrap();
        assert_eq!(a.plan.values[5], MIN_TIMED);
        assert_eq!(
            adjust(&r, &options(None), &Words, &a.plan, at, -1_000, None),
            Err(AdjustError::NoRoom)
        );
    }

    #[test]
    fn more_stops_at_the_most_a_routine_may_ask() {
        let r = routine();
        let p = plan(&r, &options(None), &Words).unwrap();
        let at = p.stretches[2].start_ms + 500;
        // an hour at 3 s a repetition is 1200 more: 1000 is the most
        let a = adjust(&r, &options(None), &Words, &p, at, 3_600_000, None).unwrap();
        assert_eq!(a.plan.steps[1].reps, Some(1000));
        assert_eq!(
            adjust(&r, &options(None), &Words, &a.plan, at, 60_000, None),
            Err(AdjustError::AtMost)
        );
    }

    #[test]
    fn holds_get_longer_and_the_opening_has_nothing_to_change() {
        let mut press = step("Press", counted(3, 3, 1_000));
        press.work = Work::Counted {
            reps: Span::exactly(3),
            tempo: 1_000,
            hold: Some(Span::exactly(10_000)),
            count: CountMode::Every,
        };
        let r = fixtures::routine("Holds", vec![press]);
        let p = plan(&r, &options(None), &Words).unwrap();
        // at the second of three holds: the last two take 15 s more each
        let at = p.stretches[1].start_ms + 500;
        let a = adjust(&r, &options(None), &Words, &p, at, 30_000, None).unwrap();
        well_formed(&a.plan);
        assert_eq!(a.plan.total_ms, p.total_ms + 30_000);
        assert_eq!(a.plan.values[2], 25_000);
        assert_eq!(
            adjust(&r, &options(None), &Words, &p, 0, 60_000, None),
            Err(AdjustError::NoWork)
        );
    }
}
