//! The session task's link to the sound output: whether it is open, opening,
//! or lost; the watch that notices a stream which stopped playing, and tells
//! it from a daemon that did not run (see [`Watch`]); and opening the output
//! again after it was lost, or when a session started without one.
//!
//! Opening a stream takes a second or two, more on a busy machine, and up to
//! [`OPEN_TRIES`] × 10 s when the device is slow to start: it always happens
//! away from the session task, which goes on answering. The result comes
//! back through the receiver [`SoundLink::results`] gives the task.

use tokio::sync::mpsc;

use crate::audio::{AudioError, AudioOut, CueSink, Health};
use crate::ms::Ms;

/// How often a lost sound output is tried again.
pub(super) const RETRY_MS: Ms = 2_000;
/// How long the last clips of a finished session get to sound out.
const DRAIN_ON_FINISH: std::time::Duration = std::time::Duration::from_secs(3);
/// How many times a session tries to open the sound output when it starts.
const OPEN_TRIES: u32 = 3;
/// How long the device may go without asking for audio, counted while the
/// daemon itself runs, before the output is taken for lost: long enough
/// that a busy machine's hiccup is not mistaken for it.
const STALL_MS: Ms = 2_000;
/// How often the watch looks at the output while a session runs.
const LOOK_MS: Ms = 250;
/// A look this long after the one before means the daemon itself did not
/// run meanwhile (the process was stopped, the machine frozen, swapping):
/// then the device is not judged for that time.
const HELD_UP_MS: Ms = 1_000;

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
    /// None could be opened for the session, which runs as text meanwhile;
    /// it is tried again every [`RETRY_MS`], and the cues sound from the
    /// moment it opens.
    Absent,
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

/// What the watch made of a look at the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// It plays, or has not been quiet for long.
    Playing,
    /// The daemon itself did not run for this long: nothing is judged.
    HeldUp(Ms),
    /// The device has not asked for audio for [`STALL_MS`] while the daemon
    /// ran: the stream has stopped.
    Stopped,
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
    /// The output's health at the last look, to log what changed.
    seen: Health,
    /// Where openings send their result; the task holds the receiver.
    opened_tx: mpsc::Sender<Opened>,
}

impl SoundLink {
    /// A closed link, and the receiver on which openings report.
    pub(super) fn new() -> (SoundLink, mpsc::Receiver<Opened>) {
        let (opened_tx, opened_rx) = mpsc::channel(1);
        let link = SoundLink {
            output: Output::Closed,
            opening: None,
            retry_at: None,
            watch: Watch::default(),
            seen: Health::default(),
            opened_tx,
        };
        (link, opened_rx)
    }

    /// The open output, to play into.
    pub(super) fn out(&mut self) -> Option<&mut AudioOut> {
        match &mut self.output {
            Output::Open(out) => Some(out),
            Output::Closed | Output::Lost | Output::Absent => None,
        }
    }

    pub(super) fn is_lost(&self) -> bool {
        matches!(self.output, Output::Lost)
    }

    /// How long after its deadline every clip sounds, when open.
    pub(super) fn start_delay_ms(&self) -> Ms {
        match &self.output {
            Output::Open(out) => out.start_delay().as_millis() as Ms,
            Output::Closed | Output::Lost | Output::Absent => 0,
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
            (Some(Opening::First), Output::Closed | Output::Absent) => Opening::First,
            (Some(Opening::Again), Output::Absent) => Opening::Again,
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
                tracing::warn!(
                    "no sound: {err}; the session runs as text, and the output is tried again \
                     every {} s",
                    RETRY_MS / 1000
                );
                self.output = Output::Absent;
                self.retry_at = Some(now + RETRY_MS);
                LinkNews::Ready(Err(format!(
                    "No sound: {err}. The session runs with its cues shown as text (massage-cue status --follow), \
                     and sounds as soon as the output can be opened (it is tried every {} s); \
                     `massage-cue render ROUTINE -o session.wav` makes a sound file to play elsewhere.",
                    RETRY_MS / 1000
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
        self.seen = out.health();
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
            Output::Closed | Output::Lost | Output::Absent => {}
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

    /// Looks whether the open output still plays (see [`Watch`]) while a
    /// session is `running`: the error when it has stopped.
    pub(super) fn check(&mut self, now: Ms, running: bool) -> Option<AudioError> {
        let Output::Open(out) = &mut self.output else {
            self.watch = Watch::default();
            return None;
        };
        let health = out.health();
        let seen = std::mem::replace(&mut self.seen, health);
        if health.reanchored > seen.reanchored {
            tracing::info!(
                "the sound output stood still and picked up again; its timing is set afresh"
            );
        }
        if health.dropped_late > seen.dropped_late {
            tracing::info!(
                "{} clips were not played: they would have sounded more than {} ms late",
                health.dropped_late - seen.dropped_late,
                crate::session::STALE_AFTER
            );
        }
        if health.gone {
            return Some(AudioError::Closed);
        }
        if !running {
            self.watch = Watch::default();
            return None;
        }
        match self.watch.look(now, health.pulls) {
            Verdict::Playing => None,
            Verdict::HeldUp(ms) => {
                tracing::info!(
                    "the daemon did not run for {ms} ms (the process was stopped or the machine \
                     stalled): the cues due meanwhile are dropped, not played late"
                );
                None
            }
            Verdict::Stopped => {
                tracing::warn!(
                    "the sound output stopped playing: the device asked for no audio for {} ms",
                    self.watch.quiet_ms
                );
                Some(AudioError::Closed)
            }
        }
    }

    /// Tries a lost output again when it is time (or at once with
    /// `now_anyway`), away from the session task.
    pub(super) fn retry(&mut self, now: Ms, now_anyway: bool) {
        if !now_anyway && self.retry_at.is_none_or(|at| at > now) {
            return;
        }
        self.retry_at = None;
        if !matches!(self.output, Output::Lost | Output::Absent) || self.opening.is_some() {
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
/// are still taken, but the device stops asking for audio. A device that
/// has asked for none for [`STALL_MS`] has stopped, but only time during
/// which the daemon itself ran counts: when the whole process stood still
/// (stopped with SIGSTOP or Ctrl-Z, a frozen machine, swapping) the device
/// could not ask, and picks up as soon as it runs again. The watch looks
/// every [`LOOK_MS`] while a session runs; a look more than [`HELD_UP_MS`]
/// after the one before means the daemon was held up, and the device gets
/// a fresh start.
#[derive(Debug, Default)]
struct Watch {
    /// The last look: when (clock ms), and the device's count of buffers
    /// then.
    last: Option<(Ms, u64)>,
    /// How long the device has asked for nothing, counted only while the
    /// daemon ran.
    quiet_ms: Ms,
}

impl Watch {
    /// Looks at the device, which has asked for `pulls` buffers so far, at
    /// `now`.
    fn look(&mut self, now: Ms, pulls: u64) -> Verdict {
        let Some((then, before)) = self.last.replace((now, pulls)) else {
            return Verdict::Playing;
        };
        let gap = now.saturating_sub(then);
        if gap > HELD_UP_MS {
            self.quiet_ms = 0;
            return Verdict::HeldUp(gap);
        }
        if pulls != before {
            self.quiet_ms = 0;
            return Verdict::Playing;
        }
        self.quiet_ms += gap;
        if self.quiet_ms >= STALL_MS {
            Verdict::Stopped
        } else {
            Verdict::Playing
        }
    }

    /// When the watch next needs to look (clock ms).
    fn next(&self) -> Option<Ms> {
        self.last.map(|(at, _)| at + LOOK_MS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Looks every `LOOK_MS` from `from` to `to`, the device asking for a
    /// buffer at each look while `plays`; the verdicts other than playing.
    fn looks(watch: &mut Watch, from: Ms, to: Ms, pulls: &mut u64, plays: bool) -> Vec<Verdict> {
        let mut said = Vec::new();
        let mut now = from;
        while now <= to {
            if plays {
                *pulls += 1;
            }
            match watch.look(now, *pulls) {
                Verdict::Playing => {}
                other => said.push(other),
            }
            now += LOOK_MS;
        }
        said
    }

    #[test]
    fn a_device_quiet_while_the_daemon_runs_has_stopped() {
        let mut watch = Watch::default();
        let mut pulls = 0;
        assert!(looks(&mut watch, 0, 10_000, &mut pulls, true).is_empty());
        assert_eq!(watch.next(), Some(10_000 + LOOK_MS));
        // the device stops: after STALL_MS of looks it is taken for stopped
        let said = looks(
            &mut watch,
            10_250,
            10_000 + STALL_MS - LOOK_MS,
            &mut pulls,
            false,
        );
        assert!(said.is_empty(), "{said:?}");
        assert_eq!(watch.look(10_000 + STALL_MS, pulls), Verdict::Stopped);
    }

    #[test]
    fn a_daemon_that_did_not_run_does_not_judge_the_device() {
        for stall in [1_000 + LOOK_MS, 2_000, 5_000, 10_000] {
            let mut watch = Watch::default();
            let mut pulls = 0;
            looks(&mut watch, 0, 5_000, &mut pulls, true);
            // the whole process stood still: no look, no buffer
            let back = 5_000 + stall;
            assert_eq!(watch.look(back, pulls), Verdict::HeldUp(stall), "{stall}");
            // the device picks up again at once
            assert!(looks(&mut watch, back + LOOK_MS, back + 10_000, &mut pulls, true).is_empty());
            // or it does not: then it has stopped, STALL_MS after the
            // daemon ran again, not before
            let mut watch = Watch::default();
            looks(&mut watch, 0, 5_000, &mut pulls, true);
            assert_eq!(watch.look(back, pulls), Verdict::HeldUp(stall));
            let said = looks(
                &mut watch,
                back + LOOK_MS,
                back + STALL_MS - LOOK_MS,
                &mut pulls,
                false,
            );
            assert!(said.is_empty(), "{stall}: {said:?}");
            assert_eq!(watch.look(back + STALL_MS, pulls), Verdict::Stopped);
        }
    }

    #[test]
    fn a_short_hitch_of_the_daemon_still_counts_as_running() {
        // looks a little late (a busy machine) are judged as usual
        let mut watch = Watch::default();
        assert_eq!(watch.look(0, 7), Verdict::Playing);
        assert_eq!(watch.look(HELD_UP_MS, 7), Verdict::Playing);
        assert_eq!(watch.look(2 * HELD_UP_MS, 7), Verdict::Stopped);
    }
}
