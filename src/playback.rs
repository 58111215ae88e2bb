//! Handing a session's due cues to the sound output: the one player.
//!
//! The [`Session`] decides what is due: every cue has an absolute deadline
//! on the monotonic clock, counted from one starting point, so nothing
//! drifts however long the session; and a cue that a stall (overload, a
//! frozen machine) left more than [`STALE_AFTER`] ms late is dropped there,
//! so the voice picks up where the session now is instead of rattling off
//! the missed counts in a burst. This module hands each due cue's clip to
//! the output ([`CueSink`]) together with the instant it is due, a little
//! ahead of time ([`HAND_OVER_AHEAD_MS`]): an output that starts clips on
//! the sample of their deadline ([`crate::audio::AudioOut`]) then plays
//! them on time even when the caller wakes late.
//!
//! The daemon's session task calls [`Playback::hand_over`] whenever it
//! wakes, between answering requests, and sleeps until the time it is
//! given back. [`Playback::play`] runs the same hand-over in a plain loop,
//! for tests and benchmarks that have no daemon around.
//!
//! Linux's monotonic clock stands still during system suspend, so after a
//! suspend the session carries on from where it was, as if paused.
//!
//! [`STALE_AFTER`]: crate::session::STALE_AFTER

use std::ops::Range;
use std::time::Duration;

use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;

use crate::audio::{AudioError, CueSink};
use crate::clip::Clip;
use crate::ms::Ms;
use crate::session::{Due, Session};

/// How long before its deadline each clip is handed to the output, which
/// starts it on the sample of the deadline: on a busy machine the caller
/// may wake late, and a late wake-up within this time does not move the
/// cue.
pub const HAND_OVER_AHEAD_MS: Ms = 250;

/// The session clock: milliseconds since a zero instant, on tokio's
/// monotonic clock (so that tests on a paused clock are exact).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    zero: Instant,
}

impl Clock {
    /// A clock whose zero is `zero`.
    pub fn starting_at(zero: Instant) -> Clock {
        Clock { zero }
    }

    /// A clock whose zero is now.
    pub fn start() -> Clock {
        Clock::starting_at(Instant::now())
    }

    /// Milliseconds since the zero.
    pub fn now(&self) -> Ms {
        self.zero.elapsed().as_millis() as Ms
    }

    /// The instant of clock time `ms`.
    pub fn instant(&self, ms: Ms) -> Instant {
        self.zero + Duration::from_millis(ms)
    }
}

/// Cues the session dropped as stale in one hand-over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    /// Their indices in the plan: a stall leaves a run of them.
    pub cues: Range<usize>,
    /// How late the first of them was, in ms past its deadline.
    pub late_ms: Ms,
}

/// What is next after a hand-over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handed {
    /// The plan's cue `cue` was handed to the output (or only shown, when
    /// there is no output): it sounds from clock time `due`, its deadline,
    /// or at once when that has just passed. `clip_ms` is how long its clip
    /// sounds (0 when nothing was played). Hand over again at once.
    Cue { cue: usize, due: Ms, clip_ms: Ms },
    /// Nothing is due before this clock time.
    Wait(Ms),
    /// Nothing more to hand over: the session is paused or finished.
    Nothing,
}

/// What one [`Playback::hand_over`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handover {
    /// What was handed over, or when to come back.
    pub next: Handed,
    /// Cues dropped on the way as stale, if any.
    pub dropped: Option<Dropped>,
}

/// Hands a session's due cues to an output on the session clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Playback {
    clock: Clock,
}

impl Playback {
    /// Playback on `clock`: the session's times are that clock's.
    pub fn new(clock: Clock) -> Playback {
        Playback { clock }
    }

    /// The session clock.
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// Hands the next cue due at clock time `now` (or within
    /// [`HAND_OVER_AHEAD_MS`] of it) to `out`, starting on its deadline;
    /// `clip` gives the clip of a cue by its index in the plan. Without an
    /// output the cue still counts as said (the session runs as text).
    ///
    /// Call again at once after [`Handed::Cue`], at the time given after
    /// [`Handed::Wait`], and after any change to the session after
    /// [`Handed::Nothing`]. A run of stale cues dropped on the way is
    /// logged once and reported in [`Handover::dropped`].
    ///
    /// An output that fails is the caller's to deal with (it is likely
    /// gone); a clip that cannot be played at all (0 Hz) is skipped with a
    /// warning.
    pub fn hand_over<S>(
        &self,
        session: &mut Session,
        now: Ms,
        out: Option<&mut S>,
        clip: impl FnOnce(usize) -> Option<Clip>,
    ) -> Result<Handover, AudioError>
    where
        S: CueSink + ?Sized,
    {
        let first = session.next_cue();
        let first_due = session.deadline(first);
        let dropped_before = session.dropped();
        let due = session.due_ahead(now, HAND_OVER_AHEAD_MS);
        let count = session.dropped() - dropped_before;
        let dropped = (count > 0).then(|| {
            let late_ms = first_due.map_or(0, |at| now.saturating_sub(at));
            tracing::warn!(
                dropped = count,
                late_ms,
                "the session stalled; dropped {count} stale cues instead of playing them late"
            );
            Dropped {
                cues: first..first + count,
                late_ms,
            }
        });
        let next = match due {
            Due::Play(cue) => {
                let due = session.deadline(cue).unwrap_or(now);
                // no clip is made for nobody to hear
                let played = out.and_then(|out| clip(cue).map(|clip| (out, clip)));
                let clip_ms = match played {
                    Some((out, clip)) => match out.play_at(&clip, self.clock.instant(due)) {
                        Ok(()) => clip.duration_ms(),
                        Err(AudioError::ZeroRate) => {
                            tracing::warn!(cue, "skipped a clip with a sample rate of 0 Hz");
                            0
                        }
                        Err(err) => return Err(err),
                    },
                    None => 0,
                };
                Handed::Cue { cue, due, clip_ms }
            }
            Due::Wait(at) => Handed::Wait(at),
            Due::Nothing => Handed::Nothing,
        };
        Ok(Handover { next, dropped })
    }

    /// Plays `session` into `out` until it is finished, or until `stop`
    /// fires: then it is paused where it stands and the output silenced at
    /// once ([`pause`]). Between hand-overs it sleeps until the time each
    /// one gives back, as the daemon's session task does. `on_handover`
    /// sees every hand-over.
    ///
    /// A failing output is silenced and its error returned, the session
    /// left where it was.
    pub async fn play<S>(
        &self,
        session: &mut Session,
        out: &mut S,
        mut clip: impl FnMut(usize) -> Option<Clip>,
        stop: &CancellationToken,
        mut on_handover: impl FnMut(&Handover),
    ) -> Result<(), AudioError>
    where
        S: CueSink + ?Sized,
    {
        loop {
            if stop.is_cancelled() {
                pause(session, self.clock.now(), Some(out));
                return Ok(());
            }
            let handover = self
                .hand_over(session, self.clock.now(), Some(&mut *out), &mut clip)
                .inspect_err(|_| out.silence())?;
            on_handover(&handover);
            let wake = match handover.next {
                Handed::Cue { .. } => continue,
                Handed::Wait(at) => at,
                Handed::Nothing => return Ok(()),
            };
            tokio::select! {
                biased;
                () = stop.cancelled() => {}
                () = sleep_until(self.clock.instant(wake)) => {}
            }
        }
    }
}

/// Pauses `session` at clock time `now` and silences the output at once,
/// so nothing goes on sounding after a pause. Returns whether the session
/// was running.
pub fn pause<S>(session: &mut Session, now: Ms, out: Option<&mut S>) -> bool
where
    S: CueSink + ?Sized,
{
    let paused = session.pause(now);
    if let Some(out) = out {
        out.silence();
    }
    paused
}

#[cfg(test)]
mod tests;
