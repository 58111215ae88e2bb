//! `--length`: choosing a value within every range so that the whole
//! session lasts as close as possible to a target.

use crate::ms::Ms;

use super::choice::Knob;

/// Finds values for `knobs` whose session length (`total`) is as close as
/// possible to `target`, or returns the span that can be reached.
///
/// Ranges of rounds repeat whole steps, so each of their settings is tried
/// in turn, and so are three ways of rounding repetition counts (down, to
/// the nearest, up: a long held repetition is a large step). Around each,
/// the finer ranges first move together (a bisection
/// on one fraction), then single ranges rise one unit at a time,
/// round-robin so the extra time is spread over the routine. The closest
/// result wins.
///
/// The search ends early once `spent` says it has built as much as it may:
/// a routine with many ranges of rounds has hundreds of settings to try,
/// so those nearest the target's place between the shortest and the
/// longest session are tried first.
pub(crate) fn fit(
    knobs: &[Knob],
    target: Ms,
    slack: Ms,
    spent: &dyn Fn() -> bool,
    total: &mut dyn FnMut(&[u64]) -> Ms,
) -> Result<Vec<u64>, (Ms, Ms)> {
    let uniform = |fraction: f64| knobs.iter().map(|k| k.at(fraction)).collect::<Vec<_>>();
    let (min, max) = (total(&uniform(0.0)), total(&uniform(1.0)));
    if target + slack < min || target > max + slack {
        return Err((min, max));
    }

    let mut coarse_tries = coarse_fractions(knobs);
    let guess = target.saturating_sub(min) as f64 / max.saturating_sub(min).max(1) as f64;
    coarse_tries.sort_by(|a, b| (a - guess).abs().total_cmp(&(b - guess).abs()));
    let mut best: Option<(Ms, Vec<u64>)> = None;
    'search: for coarse in coarse_tries {
        for shift in [0.0, 0.5, 0.999] {
            if best.is_some() && spent() {
                break 'search;
            }
            let at = |fraction: f64| -> Vec<u64> {
                knobs
                    .iter()
                    .map(|k| {
                        if k.coarse {
                            k.at(coarse)
                        } else {
                            k.at_shifted(fraction, shift)
                        }
                    })
                    .collect()
            };
            let values = fit_fine(knobs, target, &at, spent, total);
            let miss = total(&values).abs_diff(target);
            if best.as_ref().is_none_or(|(m, _)| miss < *m) {
                best = Some((miss, values));
            }
            if miss == 0 {
                break;
            }
        }
    }
    Ok(best.map(|(_, v)| v).unwrap_or_else(|| uniform(0.5)))
}

/// Every fraction at which some range of rounds takes a new value.
fn coarse_fractions(knobs: &[Knob]) -> Vec<f64> {
    let mut out = vec![0.0, 1.0];
    for knob in knobs.iter().filter(|k| k.coarse && k.high > k.low) {
        let width = (knob.high - knob.low) as f64;
        // limits keep rounds small, so this stays a short list
        for step in 1..(knob.high - knob.low) {
            out.push(step as f64 / width);
        }
    }
    out.sort_by(f64::total_cmp);
    out.dedup();
    out
}

fn fit_fine(
    knobs: &[Knob],
    target: Ms,
    at: &dyn Fn(f64) -> Vec<u64>,
    spent: &dyn Fn() -> bool,
    total: &mut dyn FnMut(&[u64]) -> Ms,
) -> Vec<u64> {
    if total(&at(0.0)) >= target {
        return at(0.0);
    }
    if total(&at(1.0)) <= target {
        return at(1.0);
    }
    // The largest fraction whose session is not longer than the target.
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    for _ in 0..32 {
        let mid = (lo + hi) / 2.0;
        if total(&at(mid)) <= target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let mut values = at(lo);

    // Raise single fine ranges while the session still fits.
    let mut budget = 4_000usize;
    let mut raised = true;
    while raised && budget > 0 && !spent() {
        raised = false;
        for (i, knob) in knobs.iter().enumerate() {
            if knob.coarse || values[i] >= knob.high || budget == 0 || spent() {
                continue;
            }
            budget -= 1;
            let before = values[i];
            values[i] = (before + knob.unit).min(knob.high);
            let candidate = total(&values);
            if candidate <= target {
                raised = true;
            } else {
                values[i] = before;
            }
        }
    }

    settle(knobs, target, values, spent, total, budget)
}

/// Local search from `values`: moves of one unit on one fine range, or up
/// on one and down on another, while any brings the session closer to the
/// target. Ends where no single move helps.
fn settle(
    knobs: &[Knob],
    target: Ms,
    mut values: Vec<u64>,
    spent: &dyn Fn() -> bool,
    total: &mut dyn FnMut(&[u64]) -> Ms,
    mut budget: usize,
) -> Vec<u64> {
    let fine: Vec<usize> = (0..knobs.len())
        .filter(|&i| !knobs[i].coarse && knobs[i].high > knobs[i].low)
        .collect();
    let up = |v: &mut Vec<u64>, i: usize| {
        let before = v[i];
        v[i] = (before + knobs[i].unit).min(knobs[i].high);
        v[i] != before
    };
    let down = |v: &mut Vec<u64>, i: usize| {
        let before = v[i];
        v[i] = before.saturating_sub(knobs[i].unit).max(knobs[i].low);
        v[i] != before
    };
    let mut miss = total(&values).abs_diff(target);
    while miss > 0 && budget > 0 && !spent() {
        let mut improved = false;
        // single moves
        for &i in &fine {
            for raise in [true, false] {
                let mut candidate = values.clone();
                let moved = if raise {
                    up(&mut candidate, i)
                } else {
                    down(&mut candidate, i)
                };
                if !moved || budget == 0 || spent() {
                    continue;
                }
                budget -= 1;
                let m = total(&candidate).abs_diff(target);
                if m < miss {
                    (values, miss, improved) = (candidate, m, true);
                }
            }
        }
        if improved {
            continue;
        }
        // one range up, another down: finer than either alone
        for &i in &fine {
            for &j in &fine {
                if i == j || budget == 0 || spent() {
                    continue;
                }
                let mut candidate = values.clone();
                if !(up(&mut candidate, i) && down(&mut candidate, j)) {
                    continue;
                }
                budget -= 1;
                let m = total(&candidate).abs_diff(target);
                if m < miss {
                    (values, miss, improved) = (candidate, m, true);
                }
            }
        }
        if !improved {
            break;
        }
    }
    values
}
