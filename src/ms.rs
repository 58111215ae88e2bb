//! The one unit of time in the program.

/// A span of milliseconds; all durations in the core are whole milliseconds.
pub type Ms = u64;
