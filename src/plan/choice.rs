//! Ranges in a routine are resolved into plain values before a session is
//! built. Every range is a "knob"; the timeline builder takes the chosen
//! values back in the same order it walks the routine.

use crate::ms::Ms;
use crate::routine::{Routine, Span, Step, Work};

use super::Level;

/// One range of the routine, as numbers: counts in repetitions, durations
/// in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Knob {
    pub low: u64,
    pub high: u64,
    /// The step by which a value may change: one repetition, one second.
    pub unit: u64,
    /// A range of rounds: one unit more repeats a whole step, so `--length`
    /// settles these first and fits the finer ranges around them.
    pub coarse: bool,
}

impl Knob {
    fn count(span: Span<u32>) -> Knob {
        Knob {
            low: span.low.into(),
            high: span.high.into(),
            unit: 1,
            coarse: false,
        }
    }

    fn rounds(span: Span<u32>) -> Knob {
        Knob {
            coarse: true,
            ..Knob::count(span)
        }
    }

    fn duration(span: Span<Ms>) -> Knob {
        // Whole seconds read better aloud and fit in fewer steps; short
        // ranges (holds of a few seconds) move by tenths.
        let unit = if span.high - span.low >= 10_000 {
            1000
        } else {
            100
        };
        Knob {
            low: span.low,
            high: span.high,
            unit,
            coarse: false,
        }
    }

    /// The value at `fraction` of the way from low to high, on the knob's unit.
    pub fn at(&self, fraction: f64) -> u64 {
        self.at_shifted(fraction, 0.0)
    }

    /// Like [`Knob::at`], with repetition counts rounded up from `shift`
    /// of the way between two whole numbers: when a repetition is long,
    /// one more of them with shorter holds may fit a length better.
    pub fn at_shifted(&self, fraction: f64, shift: f64) -> u64 {
        let width = self.high - self.low;
        let shift = if self.unit == 1 && !self.coarse {
            shift
        } else {
            0.0
        };
        let raw = ((width as f64 * fraction.clamp(0.0, 1.0)) + shift) as u64;
        let stepped = raw / self.unit * self.unit;
        if fraction >= 1.0 {
            self.high
        } else {
            self.low + stepped.min(width)
        }
    }

    /// The value for a `--level`: low end, middle (rounded down), high end.
    pub fn at_level(&self, level: Level) -> u64 {
        match level {
            Level::Low => self.low,
            Level::Mid => self.low + (self.high - self.low) / 2 / self.unit * self.unit,
            Level::High => self.high,
        }
    }
}

/// Every range of the routine, in the order [`Values`] hands them out.
pub(crate) fn knobs(routine: &Routine) -> Vec<Knob> {
    let mut out = Vec::new();
    for step in &routine.steps {
        step_knobs(step, &mut out);
    }
    out
}

fn step_knobs(step: &Step, out: &mut Vec<Knob>) {
    out.push(Knob::rounds(step.rounds));
    match &step.work {
        Work::Timed { time } => out.push(Knob::duration(*time)),
        Work::Counted { reps, hold, .. } => {
            out.push(Knob::count(*reps));
            if let Some(hold) = hold {
                out.push(Knob::duration(*hold));
            }
        }
        Work::Group { parts } => {
            for part in parts {
                step_knobs(part, out);
            }
        }
        Work::Wait => {}
    }
}

/// How many values each step of the routine takes, in order.
pub(crate) fn knobs_per_step(routine: &Routine) -> Vec<usize> {
    routine
        .steps
        .iter()
        .map(|step| {
            let mut out = Vec::new();
            step_knobs(step, &mut out);
            out.len()
        })
        .collect()
}

/// Resolved values handed out in the order of [`knobs`].
#[derive(Debug)]
pub(crate) struct Values<'a> {
    values: &'a [u64],
    next: usize,
}

impl<'a> Values<'a> {
    pub fn new(values: &'a [u64]) -> Self {
        Values { values, next: 0 }
    }

    /// The next value; the builder walks the routine exactly as [`knobs`]
    /// does, so running out is a bug in this module, not bad input.
    pub fn take(&mut self) -> u64 {
        let value = self.values.get(self.next).copied();
        self.next += 1;
        value.expect("the timeline builder walks the routine as knobs() does")
    }

    pub fn take_count(&mut self) -> u32 {
        u32::try_from(self.take()).unwrap_or(u32::MAX)
    }

    /// The index of the value [`Values::take`] hands out next.
    pub fn position(&self) -> usize {
        self.next
    }

    /// Whether every value was used.
    pub fn is_exhausted(&self) -> bool {
        self.next == self.values.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_pick_ends_and_the_middle_rounded_down() {
        let reps = Knob::count(Span { low: 15, high: 20 });
        assert_eq!(reps.at_level(Level::Low), 15);
        assert_eq!(reps.at_level(Level::Mid), 17);
        assert_eq!(reps.at_level(Level::High), 20);
        let time = Knob::duration(Span {
            low: 60_000,
            high: 120_000,
        });
        assert_eq!(time.at_level(Level::Mid), 90_000);
        let hold = Knob::duration(Span {
            low: 3_000,
            high: 5_000,
        });
        assert_eq!(hold.at_level(Level::Mid), 4_000);
    }

    #[test]
    fn fractions_move_in_whole_units() {
        let time = Knob::duration(Span {
            low: 20_000,
            high: 40_000,
        });
        assert_eq!(time.at(0.0), 20_000);
        assert_eq!(time.at(0.33), 26_000);
        assert_eq!(time.at(1.0), 40_000);
    }
}
