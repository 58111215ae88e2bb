//! How big a routine may be. Generous for any real massage, and small
//! enough that a typo (`reps = 1000000000`) is caught before anything is
//! planned, allocated or spoken.

use crate::ms::Ms;

/// The largest routine file read, in bytes (1 MiB).
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// Steps in a routine.
pub const MAX_STEPS: usize = 200;
/// Parts in a group step.
pub const MAX_PARTS: usize = 50;
/// Cautions in a routine.
pub const MAX_CAUTIONS: usize = 50;
/// Characters in any one string.
pub const MAX_STRING_CHARS: usize = 1000;

/// Repetitions of a counted step (per side, position and round).
pub const MAX_REPS: u64 = 1000;
/// Rounds of a step.
pub const MAX_ROUNDS: u64 = 50;
/// Positions of a step.
pub const MAX_POSITIONS: u64 = 100;
/// Sides of a step.
pub const MAX_SIDES: usize = 8;
/// Sessions in a course.
pub const MAX_COURSE: u64 = 1000;

/// The work of one step: rounds × sides × positions × repetitions (a timed
/// stretch counts as one), summed over the parts of a group.
pub const MAX_STEP_WORK: u64 = 20_000;
/// The same, summed over the whole routine.
pub const MAX_ROUTINE_WORK: u64 = 100_000;

/// A step's `time` (per side, position and round).
pub const MIN_TIME: Ms = 1_000;
pub const MAX_TIME: Ms = 2 * 3_600_000;
/// A `hold`; `"0s"` means no hold at all.
pub const MIN_HOLD: Ms = 1_000;
pub const MAX_HOLD: Ms = 10 * 60_000;
/// A `tempo`.
pub const MIN_TEMPO: Ms = 200;
pub const MAX_TEMPO: Ms = 60_000;
/// A `rest`.
pub const MAX_REST: Ms = 10 * 60_000;
/// The recommended session `length`.
pub const MIN_LENGTH: Ms = 60_000;
pub const MAX_LENGTH: Ms = 8 * 3_600_000;
