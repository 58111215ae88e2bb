//! What the planner warns about in a valid routine, for `check`.

use super::{Level, Options, length_warnings, plan};
use crate::routine::Routine;
use crate::speech::Estimate;

/// What the planner warns about in a valid routine (counts that do not fit
/// their tempo, cues dropped for want of room), at both ends of every
/// range, each warning once.
pub fn routine_warnings(routine: &Routine) -> Vec<String> {
    let mut warnings: Vec<String> = Vec::new();
    let mut totals = Vec::new();
    for level in [Level::Low, Level::High] {
        let options = Options {
            level,
            ..Options::default()
        };
        match plan(routine, &options, &Estimate) {
            Ok(plan) => {
                totals.push(plan.total_ms);
                for warning in plan.warnings {
                    if !warnings.contains(&warning) {
                        warnings.push(warning);
                    }
                }
            }
            Err(err) => {
                let warning = format!("cannot plan a session: {err}");
                if !warnings.contains(&warning) {
                    warnings.push(warning);
                }
            }
        }
    }
    if let [low, high] = totals[..] {
        warnings.extend(length_warnings(routine, low, high));
    }
    warnings
}
