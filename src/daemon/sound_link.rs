//! The session task's link to the sound output: whether it is open, opening,
//! or lost; the watch that notices a stream which stopped playing; the
//! silent probe that keeps the watch going between cues; and opening the
//! output again after it was lost.
//!
//! Opening a stream takes a second or two, more on a busy machine, and up to
//! [`OPEN_TRIES`] × 10 s when the device is slow to start: it always happens
//! away from the session task, which goes on answering. The result comes
//! back through the receiver [`SoundLink::results`] gives the task.

use tokio::sync::mpsc;

use crate::audio::{AudioError, AudioOut, CueSink};
use crate::clip::Clip;
use crate::ms::Ms;

/// How often a lost sound output is tried again.
pub(super) const RETRY_MS: Ms = 2_000;
/// How long the last clips of a finished session get to sound out.
const DRAIN_ON_FINISH: std::time::Duration = std::time::Duration::from_secs(3);
/// How many times a session tries to open the sound output when it starts.
const OPEN_TRIES: u32 = 3;
/// How long past its expected end a clip may still be sounding before the
/// output is taken for dead: long enough that a busy machine's hiccup is
/// not mistaken for it.
const STALL_MS: Ms = 2_000;
/// While a session runs, a silent probe is played this long after the last
/// check, so that an output that dies between cues is noticed too.
const PROBE_MS: Ms = 1_000;

/// The sound output, opened for a session and closed when it ends, so an
/// idle daemon holds no stream.
#[derive(Debug, Default)]
enum Output {
    /// No stream: idle, opening for the first time, or no device at all
    /// (cues are shown as text only).
    #[default]
    Closed,
    Open(AudioOut),
    /// The output went away mid-session; it is tried again every
    /// [`RETRY_MS`].
    Lost,
}

/// Why an output is being opened, away from the session task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Opening {
    /// For a session that waits for it to start (or resume).
    First,
    /// Again, after it was lost.
    Again,
    /// No longer wanted (the session ended): closed as soon as it opens.
    Unwanted,
}

/// The result of opening the output, away from the session task.
pub(super) type Opened = Result<AudioOut, AudioError>;

/// What became of an opening, for the session task to act on.
#[derive(Debug)]
pub(super) enum LinkNews {
    /// The output asked for by [`SoundLink::open`] is ready, or there is
    /// none: the error says so, for the status.
    Ready(Result<(), String>),
    /// A lost output is back.
    Back,
    /// Nothing the session needs to hear of.
    Nothing,
}

/// The sound output of the session task, and its health.
#[derive(Debug)]
pub(super) struct SoundLink {
    output: Output,
    /// An open under way, and what for.
    opening: Option<Opening>,
    /// When to try a lost output again (clock ms).
    retry_at: Option<Ms>,
    /// Whether the open output still plays.
    watch: Watch,
    /// The silent clip the watch plays between cues.
    probe: Clip,
    /// Where openings send their result; the task holds the receiver.
    opened_tx: mpsc::Sender<Opened>,
}

impl SoundLink {
    /// A closed link, and the receiver on which openings report. Probes are
    /// made at `rate`.
    pub(super) fn new(rate: u32) -> (SoundLink, mpsc::Receiver<Opened>) {
        let (opened_tx, opened_rx) = mpsc::channel(1);
        let link = SoundLink {
            output: Output::Closed,
            opening: None,
            retry_at: None,
            watch: Watch::default(),
            probe: Clip::new(rate, vec![0.0_f32]),
            opened_tx,
        };
        (link, opened_rx)
    }

    /// The open output, to play into.
    pub(super) fn out(&mut self) -> Option<&mut AudioOut> {
        match &mut self.output {
            Output::Open(out) => Some(out),
            Output::Closed | Output::Lost => None,
        }
    }

    pub(super) fn is_open(&self) -> bool {
        matches!(self.output, Output::Open(_))
    }

    pub(super) fn is_lost(&self) -> bool {
        matches!(self.output, Output::Lost)
    }

    /// How long after its deadline every clip sounds, when open.
    pub(super) fn start_delay_ms(&self) -> Ms {
        match &self.output {
            Output::Open(out) => out.start_delay().as_millis() as Ms,
            Output::Closed | Output::Lost => 0,
        }
    }

    /// When the link next needs a look (clock ms): a retry or the watch.
    pub(super) fn next_wake(&self) -> Option<Ms> {
        [self.retry_at, self.watch.next()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Opens the output for a session unless it is open: true when it is
    /// ready now. Otherwise it is opened away from the task (or already
    /// being opened) and [`LinkNews::Ready`] says when it is.
    pub(super) fn open(&mut self) -> bool {
        match (&self.output, self.opening) {
            (Output::Open(_), _) => true,
            (_, Some(_)) => {
                self.opening = Some(Opening::First);
                false
            }
            (_, None) => {
                self.opening = Some(Opening::First);
                let reply = self.opened_tx.clone();
                tokio::task::spawn_blocking(move || {
                    // the task gone, the output is closed right here
                    let _ = reply.blocking_send(open_output());
                });
                false
            }
        }
    }

    /// An opening came back.
    pub(super) fn opened(&mut self, result: Opened, now: Ms) -> LinkNews {
        let opening = self.opening.take();
        let wanted = match (opening, &self.output) {
            (Some(Opening::First), Output::Closed) => Opening::First,
            (Some(Opening::Again | Opening::First), Output::Lost) => Opening::Again,
            // the session ended, or the output is open already
            _ => Opening::Unwanted,
        };
        match (wanted, result) {
            (Opening::Unwanted, Ok(out)) => {
                tokio::task::spawn_blocking(move || drop(out));
                LinkNews::Nothing
            }
            (Opening::Unwanted, Err(_)) => LinkNews::Nothing,
            (Opening::First, Ok(out)) => {
                self.use_output(out);
                LinkNews::Ready(Ok(()))
            }
            (Opening::First, Err(err)) => {
                tracing::warn!("no sound: {err}");
                LinkNews::Ready(Err(format!(
                    "No sound: {err}. The session runs with its cues shown as text (massage-cue status --follow); \
                     `massage-cue render ROUTINE -o session.wav` makes a sound file to play elsewhere."
                )))
            }
            (Opening::Again, Ok(out)) => {
                tracing::info!("the sound output is back");
                self.use_output(out);
                LinkNews::Back
            }
            (Opening::Again, Err(err)) => {
                tracing::debug!("the sound output is still unavailable: {err}");
                self.retry_at = Some(now + RETRY_MS);
                LinkNews::Nothing
            }
        }
    }

    fn use_output(&mut self, out: AudioOut) {
        self.output = Output::Open(out);
        self.watch = Watch::default();
        self.retry_at = None;
    }

    /// Stops every clip sounding, at once.
    pub(super) fn silence(&mut self) {
        if let Output::Open(out) = &mut self.output {
            out.silence();
        }
    }

    /// A clip of `clip_ms` was handed over to start at clock time `at`:
    /// the watch expects it to have finished some time after.
    pub(super) fn played(&mut self, at: Ms, clip_ms: Ms) {
        if self.is_open() {
            let delay = self.start_delay_ms();
            self.watch.played(at, clip_ms, delay);
        }
    }

    /// Closes the output; a finished session's last clips (the chime)
    /// first sound out, away from the session task. An opening under way
    /// is closed when it comes back.
    pub(super) fn close(&mut self, let_finish: bool) {
        self.retry_at = None;
        self.watch = Watch::default();
        if self.opening.is_some() {
            self.opening = Some(Opening::Unwanted);
        }
        match std::mem::take(&mut self.output) {
            Output::Open(out) if let_finish => {
                tokio::task::spawn_blocking(move || {
                    out.drain(DRAIN_ON_FINISH);
                    drop(out);
                });
            }
            Output::Open(mut out) => out.silence(),
            Output::Closed | Output::Lost => {}
        }
    }

    /// Takes the output out of use, open, for the next session: no second
    /// wait for the sound server, no gap.
    pub(super) fn keep_for_next(&mut self) -> Option<AudioOut> {
        match std::mem::take(&mut self.output) {
            Output::Open(mut out) => {
                out.silence();
                Some(out)
            }
            other => {
                self.output = other;
                None
            }
        }
    }

    /// Puts back an output kept by [`SoundLink::keep_for_next`].
    pub(super) fn put_back(&mut self, out: AudioOut) {
        self.use_output(out);
    }

    /// The output failed: it is dropped (away from the task: closing a
    /// stream whose server is gone can take a while) and tried again every
    /// [`RETRY_MS`].
    pub(super) fn lose(&mut self, now: Ms, err: &AudioError) {
        tracing::warn!("the sound output was lost: {err}");
        if let Output::Open(out) = std::mem::replace(&mut self.output, Output::Lost) {
            tokio::task::spawn_blocking(move || drop(out));
        }
        self.watch = Watch::default();
        self.retry_at = Some(now + RETRY_MS);
    }

    /// Looks whether the open output still plays (see [`Watch`]): the error
    /// when it has stopped. While a session `running`, a silent probe is
    /// played when no clip has been for a while.
    pub(super) fn check(&mut self, now: Ms, running: bool) -> Option<AudioError> {
        let Output::Open(out) = &mut self.output else {
            self.watch = Watch::default();
            return None;
        };
        let sounding = out.sounding();
        if self.watch.stalled(now, sounding) {
            tracing::warn!(
                "the sound output stopped playing: {sounding} clips still sounding, {} expected at most",
                self.watch.finished_by.len()
            );
            return Some(AudioError::Closed);
        }
        if !running || !self.watch.finished_by.is_empty() {
            // a clip under way is checked already
            self.watch.probe_at = None;
            return None;
        }
        match self.watch.probe_at {
            Some(at) if at <= now => {
                self.watch.probe_at = None;
                match out.play(&self.probe) {
                    Ok(()) => {
                        let delay = out.start_delay().as_millis() as Ms;
                        self.watch.played(now, 0, delay);
                    }
                    Err(err) => return Some(err),
                }
            }
            Some(_) => {}
            None => self.watch.probe_at = Some(now + PROBE_MS),
        }
        None
    }

    /// Tries a lost output again when it is time (or at once with
    /// `now_anyway`), away from the session task.
    pub(super) fn retry(&mut self, now: Ms, now_anyway: bool) {
        if !now_anyway && self.retry_at.is_none_or(|at| at > now) {
            return;
        }
        self.retry_at = None;
        if !self.is_lost() || self.opening.is_some() {
            return;
        }
        self.opening = Some(Opening::Again);
        let reply = self.opened_tx.clone();
        tokio::task::spawn_blocking(move || {
            let _ = reply.blocking_send(AudioOut::open());
        });
    }
}

/// Opens the sound output. A device that is there but whose new stream
/// fails at once while starting (a sound server under load can report a
/// passing error then) is tried again a few times; no device at all, or
/// one that never starts, is final.
fn open_output() -> Result<AudioOut, AudioError> {
    let mut tries = 1;
    loop {
        match AudioOut::open() {
            Err(err @ (AudioError::Closed | AudioError::Open { .. })) if tries < OPEN_TRIES => {
                tracing::info!("opening the sound output failed ({err}); trying again");
                tries += 1;
            }
            result => return result,
        }
    }
}

/// Watches an open output for a stream that no longer plays.
///
/// A sound server that dies does not always make the output fail: clips
/// are still taken, but the device stops asking for samples, so they never
/// finish. Every clip handed over is expected to have finished some time
/// after its end ([`STALL_MS`]); more clips sounding than are still within
/// that time means the stream has stopped. During a long silence a silent
/// probe clip keeps the check going.
#[derive(Debug, Default)]
struct Watch {
    /// For each clip handed over and not yet checked: the clock ms by which
    /// it has finished if the output still plays.
    finished_by: Vec<Ms>,
    /// When to play the next probe (clock ms), while a session runs.
    probe_at: Option<Ms>,
}

impl Watch {
    /// A clip of `duration_ms` starts at `at` (clock ms), sounding
    /// `delay_ms` later.
    fn played(&mut self, at: Ms, duration_ms: Ms, delay_ms: Ms) {
        self.finished_by
            .push(at + duration_ms + delay_ms + STALL_MS);
    }

    /// When the watch next needs to look (clock ms).
    fn next(&self) -> Option<Ms> {
        let check = self.finished_by.iter().copied().min();
        match (check, self.probe_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether `sounding` clips at `now` mean the stream has stopped;
    /// forgets the clips that are past their time.
    fn stalled(&mut self, now: Ms, sounding: usize) -> bool {
        if !self.finished_by.iter().any(|&by| by <= now) {
            return false;
        }
        self.finished_by.retain(|&by| by > now);
        sounding > self.finished_by.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clips_past_their_time_and_still_sounding_mean_a_stopped_stream() {
        let mut watch = Watch::default();
        // a 600 ms clip at 0 and a 400 ms one at 2000, 50 ms of output delay
        watch.played(0, 600, 50);
        watch.played(2_000, 400, 50);
        let first_done = 600 + 50 + STALL_MS;
        let second_done = 2_000 + 400 + 50 + STALL_MS;
        assert_eq!(watch.next(), Some(first_done));
        // before the first is due to have finished nothing is judged
        assert!(!watch.stalled(first_done - 1, 2));
        // the first is done: only the second may still sound
        assert!(!watch.stalled(first_done, 1));
        assert_eq!(watch.next(), Some(second_done));
        assert!(!watch.stalled(second_done, 0));
        assert_eq!(watch.next(), None);

        let mut watch = Watch::default();
        watch.played(0, 600, 50);
        watch.played(2_000, 400, 50);
        // the first is still sounding when it should long be over
        assert!(watch.stalled(first_done, 2));
    }

    #[test]
    fn a_probe_is_judged_like_a_clip() {
        let mut watch = Watch::default();
        watch.played(5_000, 0, 50);
        assert!(!watch.stalled(5_000 + 50 + STALL_MS, 0));
        let mut watch = Watch::default();
        watch.played(5_000, 0, 50);
        assert!(watch.stalled(5_000 + 50 + STALL_MS, 1));
    }
}
