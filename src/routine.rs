//! The validated routine model: what the rest of the program sees once a
//! routine file has been read and checked (see `routine/parse.rs`).

use std::fmt;
use std::path::PathBuf;

use crate::ms::Ms;

mod error;
pub mod limits;
mod parse;
pub mod schema;
mod value;

pub use error::{Problem, RoutineError};
pub use parse::{load_routine, parse_routine};

/// An inclusive range `low..=high` from the routine file. A single value is a
/// range with `low == high`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span<T> {
    pub low: T,
    pub high: T,
}

impl<T: Copy + PartialOrd> Span<T> {
    /// A range holding exactly one value.
    pub fn exactly(value: T) -> Self {
        Span {
            low: value,
            high: value,
        }
    }

    /// Whether the range allows more than one value.
    pub fn is_range(&self) -> bool {
        self.low != self.high
    }
}

/// Who massages whom; stock phrases may be worded differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Kind {
    /// One person massages another (the default).
    #[default]
    Partner,
    /// Self-massage.
    SelfMassage,
}

/// How repetitions are spoken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CountMode {
    /// Every number.
    #[default]
    Every,
    /// Every fifth, the last three, and "last one"; a soft tick otherwise.
    Milestones,
    /// A soft tick only.
    None,
}

/// A validated routine.
#[derive(Debug, Clone, PartialEq)]
pub struct Routine {
    /// Spoken at the start.
    pub name: String,
    pub description: Option<String>,
    pub kind: Kind,
    /// Recommended session length.
    pub length: Option<Span<Ms>>,
    /// Recommended number of sessions in a course.
    pub course: Option<Span<u32>>,
    /// Spoken and printed before the session starts; never skipped.
    pub cautions: Vec<String>,
    /// Spoken before step 1.
    pub prepare: Option<String>,
    /// At least one.
    pub steps: Vec<Step>,
    /// The file the routine was read from, when it came from one.
    pub source: Option<PathBuf>,
}

/// One step (or one part of a group step).
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The technique; announced when the step starts.
    pub name: String,
    /// Spoken instead of `name` at the announcement.
    pub say: Option<String>,
    /// How to do it: spoken at detail level `full`, printed always.
    pub tip: Option<String>,
    pub work: Work,
    /// The whole step runs once per side; empty when the step has no sides.
    pub sides: Vec<String>,
    pub positions: Positions,
    /// Spoken between positions.
    pub move_text: Option<String>,
    /// Spoken after each held repetition, in the rest before the next one
    /// ("Move down about a centimetre.").
    pub between: Option<String>,
    /// Spoken when the work goes back to the first position for a new side
    /// or round ("Start again at the top.").
    pub restart: Option<String>,
    /// The step (parts, sides and all) is repeated; `1` when not set.
    pub rounds: Span<u32>,
    /// Pause after each held repetition.
    pub rest: Ms,
    /// The time the hands get to move at each change, after it is announced.
    pub transitions: Transitions,
    /// Said at the start of each hold; the planner's default when `None`.
    pub hold_say: Option<String>,
    /// Said at the end of each hold; the planner's default when `None`.
    pub release_say: Option<String>,
    /// Where the step begins in its file (1-based line), for warnings.
    pub line: u32,
}

/// How long the hands get to move at each kind of change, counted from
/// the end of the change's announcement to the start of work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transitions {
    /// `change`: to a new step, part or round.
    pub change: Ms,
    /// `switch`: to the next side (long enough to walk round a table).
    pub switch: Ms,
    /// `move_time`: to the next position along the body.
    pub move_time: Ms,
}

impl Transitions {
    /// The defaults for a kind of routine: a giver walks round a table to
    /// change sides; someone massaging themselves only changes hands.
    pub fn for_kind(kind: Kind) -> Transitions {
        match kind {
            Kind::Partner => Transitions {
                change: 4_000,
                switch: 8_000,
                move_time: 2_000,
            },
            Kind::SelfMassage => Transitions {
                change: 3_000,
                switch: 3_000,
                move_time: 2_000,
            },
        }
    }
}

/// What a step does.
#[derive(Debug, Clone, PartialEq)]
pub enum Work {
    /// Work for a length of time (per position, side and round).
    Timed { time: Span<Ms> },
    /// Work counted in repetitions.
    Counted {
        reps: Span<u32>,
        /// One repetition every `tempo` (without a hold).
        tempo: Ms,
        /// Each repetition is "press… hold… release".
        hold: Option<Span<Ms>>,
        count: CountMode,
    },
    /// Sub-steps in order; parts are never groups themselves.
    Group { parts: Vec<Step> },
    /// The step is announced, then the session waits for the giver's go
    /// signal (turning the receiver over, warming with a lamp).
    Wait,
}

/// Where along the body a step's work repeats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Positions {
    /// `positions = 4`: four unnamed positions (`Count(1)` when not set).
    Count(u32),
    /// `positions = ["neck", "upper back"]`: named positions, spoken.
    Named(Vec<String>),
}

impl Positions {
    /// How many positions there are.
    pub fn len(&self) -> u32 {
        match self {
            Positions::Count(n) => *n,
            Positions::Named(names) => names.len() as u32,
        }
    }

    /// Never true for a validated routine; here for clippy's sake.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The spoken label of position `i` (0-based), if positions are named.
    pub fn label(&self, i: u32) -> Option<&str> {
        match self {
            Positions::Count(_) => None,
            Positions::Named(names) => names.get(i as usize).map(String::as_str),
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Partner => "partner",
            Kind::SelfMassage => "self",
        })
    }
}
