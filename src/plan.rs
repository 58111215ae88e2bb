//! Planning: a pure function from a routine, the session options and the
//! length of every clip to a timeline of cues at exact offsets. Playing a
//! session is only following this timeline.

use std::str::FromStr;

use serde::de::IntoDeserializer;
use serde::{Deserialize, Serialize};

use crate::ms::Ms;
use crate::speech::Sound;

/// How a range in the routine is resolved: its low end, its middle
/// (rounded down) or its high end. Written in lower case in the
/// configuration, on the command line, over the socket and in saved
/// sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Low,
    Mid,
    High,
}

impl Level {
    /// Every level's name, as serde reads and writes it.
    pub const NAMES: [&str; 3] = ["low", "mid", "high"];
}

impl FromStr for Level {
    type Err = serde::de::value::Error;

    /// A level from its name, as serde reads it.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Level::deserialize(name.into_deserializer())
    }
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Level::Low => "low",
            Level::Mid => "mid",
            Level::High => "high",
        })
    }
}

/// How much is said. Written in lower case, like [`Level`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Detail {
    /// Technique names and counts only.
    Brief,
    /// Names with how many or how long.
    #[default]
    Normal,
    /// Also the tips, for learning a routine.
    Full,
}

impl Detail {
    /// Every detail level's name, as serde reads and writes it.
    pub const NAMES: [&str; 3] = ["brief", "normal", "full"];
}

impl FromStr for Detail {
    type Err = serde::de::value::Error;

    /// A detail level from its name, as serde reads it.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Detail::deserialize(name.into_deserializer())
    }
}

/// Spoken-timeline settings from the `[cues]` config table.
#[derive(Debug, Clone, PartialEq)]
pub struct CueSettings {
    /// Time-left cues before the end of a timed step, longest first.
    pub remaining: Vec<Ms>,
    /// Count down the last seconds of a timed step ("3, 2, 1"); 0 for none.
    pub countdown: u32,
}

impl Default for CueSettings {
    fn default() -> Self {
        CueSettings {
            remaining: vec![30_000, 10_000],
            countdown: 3,
        }
    }
}

/// Everything besides the routine that shapes a session.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub level: Level,
    /// Fit the session to this length instead of using `level`.
    pub length: Option<Ms>,
    /// The length is a standing preference (from the configuration), not
    /// asked for this session: a routine that cannot reach it is planned
    /// at `level` instead, with a note.
    pub length_preferred: bool,
    pub detail: Detail,
    /// Speed factor on every tempo: 1.25 is a quarter faster, 0.8 slower.
    pub tempo: f64,
    /// "Session N of M" is announced when the routine has a course.
    pub session_number: Option<u32>,
    pub cues: CueSettings,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            level: Level::Mid,
            length: None,
            length_preferred: false,
            detail: Detail::Normal,
            tempo: 1.0,
            session_number: None,
            cues: CueSettings::default(),
        }
    }
}

/// What a cue is, for display, the session state machine and `plan --json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CueKind {
    /// The routine's name at the start of the session.
    Title,
    Caution,
    /// "Session 4 of 15."
    Course,
    /// "About 25 minutes."
    Length,
    Prepare,
    /// A step begins: its name (or `say`), with how many or how long.
    Announce,
    /// A part of a group step begins.
    Part,
    /// A step's tip, at detail level full.
    Tip,
    /// A repetition number, spoken at its start.
    Count,
    /// A soft tick at the start of a repetition that is not spoken.
    Tick,
    /// "Last one."
    Last,
    Press,
    Release,
    /// "Left side." / "Switch to the right side."
    Side,
    /// "Round 2 of 3."
    Round,
    /// A step's `move` text, the name of the next position, a `between`
    /// after a held repetition, or a `restart` back to the first position.
    Move,
    /// "Begin.": timed work starts after a transition.
    Begin,
    /// The soft reminder of a step that waits for the go signal; the
    /// session waits when it is reached.
    Wait,
    /// A reminder to breathe during a long hold.
    Breathe,
    Halfway,
    /// "30 seconds left."
    Remaining,
    /// "3", "2", "1" at the end of a timed stretch.
    Countdown,
    /// "Next: deep stroking."
    Next,
    /// "Session complete."
    End,
    /// The soft chime after the end.
    Chime,
}

/// Which repetition a cue belongs to: `n` of `of`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Rep {
    pub n: u32,
    pub of: u32,
}

/// One thing said (or sounded) at an exact offset from the session start.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cue {
    pub at_ms: Ms,
    pub duration_ms: Ms,
    pub kind: CueKind,
    /// What is said; for ticks and chimes, a word describing the sound.
    pub text: String,
    /// The step (0-based index into [`Plan::steps`]); `None` at the session's
    /// start and end.
    pub step: Option<usize>,
    /// The repetition this cue starts, for counts, ticks and presses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rep: Option<Rep>,
    /// Set when the cue is a sound rather than speech.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sound: Option<Sound>,
}

impl Cue {
    /// When this cue's clip ends.
    pub fn end_ms(&self) -> Ms {
        self.at_ms + self.duration_ms
    }
}

/// A step as planned: where it sits on the timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedStep {
    pub index: usize,
    pub name: String,
    pub start_ms: Ms,
    pub end_ms: Ms,
    /// Repetitions per side and position for counted steps, once ranges are
    /// resolved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reps: Option<u32>,
    /// Printed always: how to do it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tip: Option<String>,
}

/// A stretch of work as planned: a side, a position, a part, a round or a
/// held repetition of a step, from the start of the change that leads to
/// it. Navigation goes by stretches; the status names the current one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedStretch {
    /// The step it belongs to.
    pub step: usize,
    pub start_ms: Ms,
    /// Where it is in its step: "Clockwise, right leg", "Upper back, 3 of 5".
    pub label: String,
    /// What `more` and `less` change in it; `None` for a step that waits.
    #[serde(skip)]
    pub work: Option<StretchWork>,
}

/// The work of a stretch, as `more` and `less` see it: which value of the
/// routine it takes (see [`Plan::values`]) and how long one unit of that
/// value lasts in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StretchWork {
    /// The index of the value in [`Plan::values`].
    pub value: usize,
    pub kind: WorkKind,
}

/// What a stretch's work is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkKind {
    /// Timed work: the value is its length in ms.
    Timed,
    /// Repetitions at a tempo (ms each): the value is how many.
    Reps { tempo: Ms },
    /// A held repetition: the value is the hold in ms.
    Hold,
}

/// The whole session as a timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub routine: String,
    pub total_ms: Ms,
    pub steps: Vec<PlannedStep>,
    /// Sorted by `at_ms`; no two overlap.
    pub cues: Vec<Cue>,
    /// The stretches of every step, in order (a step of one stretch has
    /// none with a label worth saying, and is listed with an empty one).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stretches: Vec<PlannedStretch>,
    /// Things `check` reports: counts that fell back to ticks, cues dropped
    /// for want of room.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// What the user is told about this session's options: a length that
    /// was out of reach and what was planned instead.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The value chosen for every range of the routine, in the order the
    /// planner walks it: where a change to the session under way starts
    /// from (see [`adjust()`]). Empty in a plan made by hand.
    #[serde(skip)]
    pub values: Vec<u64>,
}

impl Plan {
    /// The step under way at offset `pos`.
    pub fn step_at(&self, pos: Ms) -> Option<usize> {
        self.steps
            .iter()
            .position(|s| s.start_ms <= pos && pos < s.end_ms)
    }

    /// The stretch under way at offset `pos`: the last to start at or
    /// before it, in the step under way.
    pub fn stretch_at(&self, pos: Ms) -> Option<usize> {
        let step = self.step_at(pos)?;
        let i = self
            .stretches
            .partition_point(|s| s.start_ms <= pos)
            .checked_sub(1)?;
        (self.stretches[i].step == step).then_some(i)
    }
}

mod adjust;
mod choice;
mod fit;
#[cfg(test)]
pub(crate) mod fixtures;
mod timeline;
mod warnings;
pub mod wording;

pub use adjust::{AdjustError, Adjusted, adjust, replay};
pub use warnings::routine_warnings;

use thiserror::Error;

use crate::routine::Routine;
use crate::speech::ClipLengths;

/// Why a session cannot be planned.
#[derive(Debug, Error, PartialEq)]
pub enum PlanError {
    /// `--length` asks for a session the routine's ranges cannot make.
    #[error(
        "a {target} session is outside what \"{routine}\" allows: its ranges give between {min} and {max}; choose a length in that span, or use --level"
    )]
    LengthOutOfReach {
        routine: String,
        target: HumanMs,
        min: HumanMs,
        max: HumanMs,
    },
    /// `--tempo` outside what makes sense.
    #[error("a tempo factor of {0} is outside 0.25 to 4 (1.25 is a quarter faster, 0.8 slower)")]
    BadTempo(f64),
    /// Another option outside what makes sense (from a request or a saved
    /// session, which are checked as the command line and the
    /// configuration are).
    #[error("{0}")]
    BadOption(String),
}

/// The longest session a length may ask for.
pub const MAX_SESSION_MS: Ms = 24 * 3_600_000;
/// The most seconds counted down at the end of a timed step.
pub const MAX_COUNTDOWN: u32 = 10;
/// The most time-left cues a timed step may have.
pub const MAX_REMAINING_CUES: usize = 32;

/// Checks the options as the command line and the configuration check
/// theirs, wherever they came from.
pub fn check_options(options: &Options) -> Result<(), PlanError> {
    if !(0.25..=4.0).contains(&options.tempo) {
        return Err(PlanError::BadTempo(options.tempo));
    }
    if let Some(length) = options.length
        && !(1..=MAX_SESSION_MS).contains(&length)
    {
        return Err(PlanError::BadOption(format!(
            "a session length of {length} ms is outside 1 ms to {}",
            HumanMs(MAX_SESSION_MS)
        )));
    }
    if options.cues.countdown > MAX_COUNTDOWN {
        return Err(PlanError::BadOption(format!(
            "a countdown of {} is more than {MAX_COUNTDOWN}",
            options.cues.countdown
        )));
    }
    if options.cues.remaining.len() > MAX_REMAINING_CUES {
        return Err(PlanError::BadOption(format!(
            "{} time-left cues are more than {MAX_REMAINING_CUES}",
            options.cues.remaining.len()
        )));
    }
    if let Some(bad) = options
        .cues
        .remaining
        .iter()
        .find(|ms| !(1..=MAX_SESSION_MS).contains(*ms))
    {
        return Err(PlanError::BadOption(format!(
            "a time-left cue {bad} ms before the end is outside 1 ms to {}",
            HumanMs(MAX_SESSION_MS)
        )));
    }
    Ok(())
}

/// Milliseconds printed the way a person reads a duration: "12m 30s".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanMs(pub Ms);

impl std::fmt::Display for HumanMs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = (self.0 + 500) / 1000;
        let d = std::time::Duration::from_secs(secs);
        write!(f, "{}", humantime::format_duration(d))
    }
}

/// Plans a session: a pure function of the routine, the options and the
/// length of every clip. The timeline it returns is sorted, and no two of
/// its cues overlap.
pub fn plan(
    routine: &Routine,
    options: &Options,
    lengths: &dyn ClipLengths,
) -> Result<Plan, PlanError> {
    check_options(options)?;
    let mut notes = Vec::new();
    let values = match choose(routine, options, lengths) {
        Ok(values) => values,
        Err(PlanError::LengthOutOfReach {
            target, min, max, ..
        }) if options.length_preferred => {
            notes.push(format!(
                "the configured length of {target} is outside what \"{}\" allows ({min} to {max}); \
                 planned at level {} instead",
                routine.name, options.level
            ));
            let at_level = Options {
                length: None,
                ..options.clone()
            };
            choose(routine, &at_level, lengths)?
        }
        Err(PlanError::LengthOutOfReach {
            target, min, max, ..
        }) if close_to(target.0, min.0, max.0) => {
            let nearest = target.0.clamp(min.0, max.0);
            notes.push(format!(
                "{target} is just outside what \"{}\" allows; planned for {} instead",
                routine.name,
                HumanMs(nearest)
            ));
            let nearest = Options {
                length: Some(nearest),
                ..options.clone()
            };
            choose(routine, &nearest, lengths)?
        }
        Err(err) => return Err(err),
    };
    let mut plan = with_length_phrase(routine, options, lengths, &values);
    plan.notes = notes;
    if let (Some(target), Some(span)) = (options.length, routine.length)
        && !(span.low..=span.high).contains(&target)
    {
        plan.warnings.push(format!(
            "{} is outside this routine's recommended length of {} to {}",
            HumanMs(target),
            HumanMs(span.low),
            HumanMs(span.high)
        ));
    }
    Ok(plan)
}

/// A length this close to what a routine can reach (in percent of the
/// nearest end) is taken as that end, with a note: a routine with no ranges
/// asked for its own length, give or take the announcements.
const CLOSE_PERCENT: u64 = 5;

fn close_to(target: Ms, min: Ms, max: Ms) -> bool {
    let nearest = target.clamp(min, max);
    target.abs_diff(nearest) * 100 <= nearest * CLOSE_PERCENT
}

/// What `check` says of a routine's recommended `length` against what its
/// ranges give at the low and high ends (`low_ms`, `high_ms`): a length that
/// cannot be reached, and a `--level` that falls outside it.
pub fn length_warnings(routine: &Routine, low_ms: Ms, high_ms: Ms) -> Vec<String> {
    let Some(span) = routine.length else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let (low, high) = (HumanMs(span.low), HumanMs(span.high));
    if high_ms < span.low || low_ms > span.high {
        out.push(format!(
            "the recommended length of {low} to {high} cannot be reached: the ranges give {} to {}",
            HumanMs(low_ms),
            HumanMs(high_ms)
        ));
        return out;
    }
    // a level within a few percent of the recommended length is on it
    if low_ms < span.low && !close_to(low_ms, span.low, span.high) {
        out.push(format!(
            "at --level low a session lasts {}, shorter than the recommended {low}",
            HumanMs(low_ms)
        ));
    }
    if high_ms > span.high && !close_to(high_ms, span.low, span.high) {
        out.push(format!(
            "at --level high a session lasts {}, longer than the recommended {high}",
            HumanMs(high_ms)
        ));
    }
    if low_ms > span.low {
        out.push(format!(
            "the recommended length of {low} cannot be reached: the shortest session lasts {}",
            HumanMs(low_ms)
        ));
    }
    if high_ms < span.high {
        out.push(format!(
            "the recommended length of {high} cannot be reached: the longest session lasts {}",
            HumanMs(high_ms)
        ));
    }
    out
}

/// How many cues `--length` may build while it searches: a bundled
/// routine needs at most a few hundred thousand; two million take about a
/// second. Without a bound, a routine with many ranges of rounds searched
/// for hours.
const FIT_CUES: usize = 2_000_000;

/// A value for every range of the routine (see `choice::knobs`): by
/// `--level`, or fitted to `--length`.
fn choose(
    routine: &Routine,
    options: &Options,
    lengths: &dyn ClipLengths,
) -> Result<Vec<u64>, PlanError> {
    let knobs = choice::knobs(routine);
    let Some(target) = options.length else {
        return Ok(knobs.iter().map(|k| k.at_level(options.level)).collect());
    };
    // While searching, the session announces the target length; the final
    // plan announces the length it really has.
    let phrase = wording::session_length(target);
    // Bounded by the cues built, which is what the search costs: a large
    // routine gets fewer tries.
    let built = std::cell::Cell::new(0usize);
    let spent = || built.get() >= FIT_CUES;
    let mut total = |values: &[u64]| {
        let plan = timeline::build(routine, options, lengths, values, Some(&phrase));
        built.set(built.get() + plan.cues.len());
        plan.total_ms
    };
    fit::fit(&knobs, target, 1_000, &spent, &mut total).map_err(|(min, max)| {
        PlanError::LengthOutOfReach {
            routine: routine.name.clone(),
            target: HumanMs(target),
            min: HumanMs(min),
            max: HumanMs(max),
        }
    })
}

/// Builds the plan announcing its own length: the announcement is part of
/// the length, so settle it by building until the rounded minutes agree.
fn with_length_phrase(
    routine: &Routine,
    options: &Options,
    lengths: &dyn ClipLengths,
    values: &[u64],
) -> Plan {
    let mut plan = timeline::build(routine, options, lengths, values, None);
    let mut phrase = wording::session_length(plan.total_ms);
    for _ in 0..3 {
        plan = timeline::build(routine, options, lengths, values, Some(&phrase));
        let settled = wording::session_length(plan.total_ms);
        if settled == phrase {
            break;
        }
        phrase = settled;
    }
    plan
}

#[cfg(test)]
mod tests;
