//! massage-cue speaks a massage routine aloud: each technique as it begins,
//! every repetition count at the right tempo, holds and releases, side
//! changes, time left, what comes next.
//!
//! Data flows one way: routine file → validated [`routine::Routine`] →
//! [`plan::Plan`] (a timeline of cues) → [`session::Session`] →
//! [`playback`] → the audio output ([`audio`]).
//! The first three are pure and know nothing of clocks or sound.

pub mod audio;
pub mod cli;
pub mod client;
pub mod clip;
pub mod commands;
pub mod config;
pub mod daemon;
pub mod display;
pub mod follow;
pub mod history;
mod line_index;
pub mod listen;
pub mod logging;
pub mod lookup;
pub mod ms;
pub mod paths;
pub mod plan;
pub mod playback;
pub mod protocol;
pub mod routine;
pub mod session;
pub mod speech;
pub mod state;
mod suggest;
pub mod voice;
