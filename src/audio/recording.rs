//! A [`CueSink`] that plays nothing and notes when it was asked to, for
//! tests of [`crate::playback`] and anything else that drives an output.

use std::sync::{Arc, Mutex, PoisonError};

use tokio::time::Instant;

use super::{AudioError, CueSink};
use crate::clip::Clip;

/// One call made to a [`RecordingSink`], with the time on tokio's clock
/// (the paused clock in tests, so the times are exact).
#[derive(Debug, Clone, PartialEq)]
pub enum SinkCall {
    /// A clip was started.
    Play {
        /// When the call was made.
        at: Instant,
        /// When the clip was due.
        due: Instant,
        /// The clip.
        clip: Clip,
    },
    /// Everything was silenced.
    Silence {
        /// When.
        at: Instant,
    },
}

impl SinkCall {
    /// When the call was made.
    pub fn at(&self) -> Instant {
        match self {
            SinkCall::Play { at, .. } | SinkCall::Silence { at } => *at,
        }
    }
}

/// A sink that records every call. Clones share the record, so a test can
/// keep one clone while playback owns another.
#[derive(Debug, Clone, Default)]
pub struct RecordingSink {
    calls: Arc<Mutex<Vec<SinkCall>>>,
}

impl RecordingSink {
    /// A sink with nothing recorded.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<SinkCall> {
        self.lock().clone()
    }

    /// The times at which clips were due, in order.
    pub fn due_times(&self) -> Vec<Instant> {
        self.lock()
            .iter()
            .filter_map(|c| match c {
                SinkCall::Play { due, .. } => Some(*due),
                SinkCall::Silence { .. } => None,
            })
            .collect()
    }

    /// The times at which clips were started, in order.
    pub fn play_times(&self) -> Vec<Instant> {
        self.lock()
            .iter()
            .filter_map(|c| match c {
                SinkCall::Play { at, .. } => Some(*at),
                SinkCall::Silence { .. } => None,
            })
            .collect()
    }

    /// The times at which everything was silenced, in order.
    pub fn silence_times(&self) -> Vec<Instant> {
        self.lock()
            .iter()
            .filter_map(|c| match c {
                SinkCall::Silence { at } => Some(*at),
                SinkCall::Play { .. } => None,
            })
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<SinkCall>> {
        // a test that panicked while holding the lock has already failed
        self.calls.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl CueSink for RecordingSink {
    fn play_at(&mut self, clip: &Clip, due: Instant) -> Result<(), AudioError> {
        self.lock().push(SinkCall::Play {
            at: Instant::now(),
            due,
            clip: clip.clone(),
        });
        Ok(())
    }

    fn silence(&mut self) {
        self.lock().push(SinkCall::Silence { at: Instant::now() });
    }
}
