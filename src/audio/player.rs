//! Following a plan's timeline on exact time.
//!
//! Every cue has an absolute deadline on the monotonic clock, computed from
//! one starting instant; the player never adds up relative sleeps, so it
//! cannot drift however long the session. When the process is stalled
//! (overload, a debugger, a frozen virtual machine) and wakes past some
//! deadlines, the cues already more than a tolerance late are dropped, so
//! the voice picks up where the session now is instead of rattling off the
//! missed counts in a burst.
//!
//! Linux's monotonic clock stands still during system suspend, so after a
//! suspend the session carries on from where it was, as if paused.

use std::time::Duration;

use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;

use super::{AudioError, CueSink};
use crate::clip::Clip;
use crate::ms::Ms;
use crate::plan::Cue;

/// How late a cue may start before it is dropped instead: enough to absorb
/// scheduler hiccups, while a count any later would already sound off the
/// beat.
pub const DEFAULT_LATE_TOLERANCE: Duration = Duration::from_millis(150);

/// A clip at its offset on the timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct TimedClip {
    /// Offset from the session start.
    pub at_ms: Ms,
    /// What to play.
    pub clip: Clip,
    /// Index of the cue in [`crate::plan::Plan::cues`] this clip sounds.
    pub cue: usize,
}

/// Pairs every cue with its clip, in timeline order.
pub fn timeline(cues: &[Cue], mut clip_for: impl FnMut(&Cue) -> Clip) -> Vec<TimedClip> {
    let mut timed: Vec<TimedClip> = cues
        .iter()
        .enumerate()
        .map(|(cue, c)| TimedClip {
            at_ms: c.at_ms,
            clip: clip_for(c),
            cue,
        })
        .collect();
    // plans are sorted already; a stable sort keeps equal offsets in order
    timed.sort_by_key(|t| t.at_ms);
    timed
}

/// Where and when to start playing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlayOptions {
    /// The monotonic instant at which plan offset `from_ms` is due. Cue `c`
    /// is due at `start + (c.at_ms - from_ms)`.
    pub start: Instant,
    /// Offset into the plan to start from: cues before it are skipped (not
    /// counted as dropped). 0 for a new session; the resume point after a
    /// pause.
    pub from_ms: Ms,
    /// A cue later than this past its deadline is dropped.
    pub late_tolerance: Duration,
}

impl PlayOptions {
    /// Plan offset `from_ms` is due at `start`.
    pub fn new(start: Instant, from_ms: Ms) -> Self {
        PlayOptions {
            start,
            from_ms,
            late_tolerance: DEFAULT_LATE_TOLERANCE,
        }
    }

    /// The deadline of a cue at `at_ms` (at or after `from_ms`).
    pub fn deadline(&self, at_ms: Ms) -> Instant {
        self.start + Duration::from_millis(at_ms.saturating_sub(self.from_ms))
    }

    /// The plan offset that `now` corresponds to.
    pub fn position_ms(&self, now: Instant) -> Ms {
        self.from_ms + now.saturating_duration_since(self.start).as_millis() as Ms
    }
}

/// What the player did, reported as it happens so the session can follow.
#[derive(Debug, Clone, PartialEq)]
pub enum PlayEvent {
    /// A clip was started.
    Started {
        /// Index of the cue in the plan.
        cue: usize,
        /// Its offset on the timeline.
        at_ms: Ms,
        /// How long after its deadline it started.
        late: Duration,
    },
    /// A run of cues was dropped because a stall left them stale.
    Dropped {
        /// Plan indices of the dropped cues, in order.
        cues: Vec<usize>,
        /// How late the first of them was when it was dropped.
        late: Duration,
    },
}

/// Why [`play_plan`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// Every cue was played (or dropped) and the last clip has ended.
    Finished,
    /// The cancellation token fired; the output was silenced at once.
    Cancelled,
}

/// The result of [`play_plan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlayOutcome {
    /// Why it returned.
    pub stopped: Stopped,
    /// Clips started.
    pub played: usize,
    /// Cues dropped as stale.
    pub dropped: usize,
    /// Plan offset when it returned: where to resume after a pause.
    pub position_ms: Ms,
}

/// Plays `timeline` (sorted by `at_ms`) into `sink` on exact time.
///
/// Each clip at or after `options.from_ms` starts at its absolute deadline
/// (see [`PlayOptions`]). A cue whose deadline passed more than
/// `options.late_tolerance` ago is dropped, never played late; each run of
/// dropped cues is logged once and reported as one [`PlayEvent::Dropped`].
/// After the last cue it waits for the last clip to end.
///
/// When `cancel` fires, the sink is silenced at once and the outcome says
/// where the session stood, so a pause can resume from there. A sink error
/// silences the output and is returned; a clip that cannot be played at all
/// (a 0 Hz clip) is skipped with a warning.
///
/// The returned future is `Send` when the sink is, so a session task on any
/// runtime can drive it.
pub async fn play_plan<S>(
    sink: &mut S,
    timeline: &[TimedClip],
    options: PlayOptions,
    cancel: &CancellationToken,
    mut on_event: impl FnMut(&PlayEvent),
) -> Result<PlayOutcome, AudioError>
where
    S: CueSink + ?Sized,
{
    let mut outcome = PlayOutcome {
        stopped: Stopped::Finished,
        played: 0,
        dropped: 0,
        position_ms: options.from_ms,
    };
    let mut stale: Vec<usize> = Vec::new();
    let mut first_stale_late = Duration::ZERO;
    let mut sounding_until = options.start;

    let first = timeline.partition_point(|t| t.at_ms < options.from_ms);
    for timed in &timeline[first..] {
        let deadline = options.deadline(timed.at_ms);

        let mut now = Instant::now();
        if now <= deadline + options.late_tolerance {
            flush_dropped(&mut stale, first_stale_late, &mut on_event);
            tokio::select! {
                biased;
                () = cancel.cancelled() => return Ok(cancelled(sink, &options, outcome)),
                () = sleep_until(deadline) => {}
            }
            // the wait itself may have been the stall
            now = Instant::now();
        }
        let late = now.saturating_duration_since(deadline);
        if late > options.late_tolerance {
            if stale.is_empty() {
                first_stale_late = late;
            }
            stale.push(timed.cue);
            outcome.dropped += 1;
            continue;
        }
        if cancel.is_cancelled() {
            return Ok(cancelled(sink, &options, outcome));
        }
        match sink.play_at(&timed.clip, deadline) {
            Ok(()) => {}
            Err(AudioError::ZeroRate) => {
                tracing::warn!(cue = timed.cue, "skipped a clip with a sample rate of 0 Hz");
                continue;
            }
            Err(err) => {
                sink.silence();
                return Err(err);
            }
        }
        outcome.played += 1;
        sounding_until = sounding_until.max(now + Duration::from_millis(timed.clip.duration_ms()));
        on_event(&PlayEvent::Started {
            cue: timed.cue,
            at_ms: timed.at_ms,
            late,
        });
    }
    flush_dropped(&mut stale, first_stale_late, &mut on_event);

    tokio::select! {
        biased;
        () = cancel.cancelled() => return Ok(cancelled(sink, &options, outcome)),
        () = sleep_until(sounding_until) => {}
    }
    outcome.position_ms = options.position_ms(Instant::now());
    Ok(outcome)
}

fn cancelled<S: CueSink + ?Sized>(
    sink: &mut S,
    options: &PlayOptions,
    mut outcome: PlayOutcome,
) -> PlayOutcome {
    sink.silence();
    outcome.stopped = Stopped::Cancelled;
    outcome.position_ms = options.position_ms(Instant::now());
    outcome
}

fn flush_dropped(stale: &mut Vec<usize>, late: Duration, on_event: &mut impl FnMut(&PlayEvent)) {
    if stale.is_empty() {
        return;
    }
    tracing::warn!(
        dropped = stale.len(),
        late_ms = late.as_millis() as u64,
        "the player stalled; dropped {} stale cues instead of playing them late",
        stale.len()
    );
    on_event(&PlayEvent::Dropped {
        cues: std::mem::take(stale),
        late,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::{RecordingSink, SinkCall};

    fn click(ms: u64) -> Clip {
        Clip::tone(1000.0, ms, 8_000)
    }

    /// Ten clicks a second apart, then three at 300 ms.
    fn clicks() -> Vec<TimedClip> {
        let offsets = (0..10).map(|i| i * 1000).chain([10_000, 10_300, 10_600]);
        offsets
            .enumerate()
            .map(|(cue, at_ms)| TimedClip {
                at_ms,
                clip: click(100),
                cue,
            })
            .collect()
    }

    fn offsets_ms(times: &[Instant], start: Instant) -> Vec<u128> {
        times.iter().map(|t| (*t - start).as_millis()).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn every_clip_starts_exactly_on_its_deadline() {
        let mut sink = RecordingSink::new();
        let record = sink.clone();
        let tl = clicks();
        let start = Instant::now() + Duration::from_millis(500);
        let mut events = Vec::new();
        let outcome = play_plan(
            &mut sink,
            &tl,
            PlayOptions::new(start, 0),
            &CancellationToken::new(),
            |e| events.push(e.clone()),
        )
        .await
        .unwrap();

        let expected: Vec<u128> = tl.iter().map(|t| u128::from(t.at_ms)).collect();
        assert_eq!(offsets_ms(&record.play_times(), start), expected);
        for t in record.play_times() {
            assert_eq!((t - start).subsec_nanos() % 1_000_000, 0, "not on the ms");
        }
        assert_eq!(outcome.stopped, Stopped::Finished);
        assert_eq!((outcome.played, outcome.dropped), (13, 0));
        // it returns once the last 100 ms clip has ended
        assert_eq!(outcome.position_ms, 10_700);
        assert_eq!(Instant::now() - start, Duration::from_millis(10_700));
        assert!(events.iter().all(|e| matches!(
            e,
            PlayEvent::Started { late, .. } if *late == Duration::ZERO
        )));
        assert!(record.silence_times().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn starting_from_an_offset_skips_earlier_cues_and_keeps_deadlines() {
        let mut sink = RecordingSink::new();
        let record = sink.clone();
        let tl = clicks();
        let start = Instant::now();
        let outcome = play_plan(
            &mut sink,
            &tl,
            PlayOptions::new(start, 4_000),
            &CancellationToken::new(),
            |_| {},
        )
        .await
        .unwrap();
        assert_eq!(
            offsets_ms(&record.play_times(), start),
            [0, 1000, 2000, 3000, 4000, 5000, 6000, 6300, 6600]
        );
        assert_eq!((outcome.played, outcome.dropped), (9, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn a_stall_drops_exactly_the_stale_cues() {
        let mut sink = RecordingSink::new();
        let record = sink.clone();
        let tl = clicks();
        let start = Instant::now();
        let cancel = CancellationToken::new();
        let player = tokio::spawn(async move {
            let mut events = Vec::new();
            let outcome = play_plan(&mut sink, &tl, PlayOptions::new(start, 0), &cancel, |e| {
                events.push(e.clone())
            })
            .await;
            (outcome, events)
        });

        // at 2.5 s the whole process freezes for 5 s: no task runs while
        // the clock jumps to 7.5 s
        tokio::time::sleep_until(start + Duration::from_millis(2_500)).await;
        tokio::time::advance(Duration::from_secs(5)).await;
        let (outcome, events) = player.await.unwrap();
        let outcome = outcome.unwrap();

        // 3 s … 7 s were due during the stall: 3, 4, 5, 6, 7 s are stale by
        // more than 150 ms when the player wakes at 7.5 s; 8 s is still ahead
        assert_eq!(
            offsets_ms(&record.play_times(), start),
            [0, 1000, 2000, 8000, 9000, 10_000, 10_300, 10_600]
        );
        assert_eq!((outcome.played, outcome.dropped), (8, 5));
        let dropped: Vec<&PlayEvent> = events
            .iter()
            .filter(|e| matches!(e, PlayEvent::Dropped { .. }))
            .collect();
        assert_eq!(
            dropped,
            [&PlayEvent::Dropped {
                cues: vec![3, 4, 5, 6, 7],
                late: Duration::from_millis(4_500),
            }]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_cue_just_within_the_tolerance_is_still_played() {
        let mut sink = RecordingSink::new();
        let record = sink.clone();
        let tl = clicks();
        let start = Instant::now();
        let player = tokio::spawn(async move {
            play_plan(
                &mut sink,
                &tl,
                PlayOptions::new(start, 0),
                &CancellationToken::new(),
                |_| {},
            )
            .await
        });
        // wake 100 ms after the 3 s deadline: late, but not stale
        tokio::time::sleep_until(start + Duration::from_millis(2_500)).await;
        tokio::time::advance(Duration::from_millis(600)).await;
        let outcome = player.await.unwrap().unwrap();
        let times = offsets_ms(&record.play_times(), start);
        assert_eq!(&times[..4], [0, 1000, 2000, 3100]);
        // the sink is told when the late one was due, so an output that
        // queues ahead can still start it on its sample
        let due = offsets_ms(&record.due_times(), start);
        assert_eq!(&due[..4], [0, 1000, 2000, 3000]);
        // the next deadline is still 4 s: being late once shifts nothing
        assert_eq!(times[4], 4000);
        assert_eq!(outcome.dropped, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn cancelling_silences_at_once_and_reports_the_position() {
        let mut sink = RecordingSink::new();
        let record = sink.clone();
        let tl = clicks();
        let start = Instant::now();
        let cancel = CancellationToken::new();
        let token = cancel.clone();
        let player = tokio::spawn(async move {
            play_plan(&mut sink, &tl, PlayOptions::new(start, 0), &token, |_| {}).await
        });
        // 50 ms into the 3 s click, which is still sounding
        tokio::time::sleep_until(start + Duration::from_millis(3_050)).await;
        cancel.cancel();
        let outcome = player.await.unwrap().unwrap();

        assert_eq!(outcome.stopped, Stopped::Cancelled);
        assert_eq!(outcome.position_ms, 3_050);
        assert_eq!(outcome.played, 4);
        let calls = record.calls();
        assert!(
            matches!(calls.last(), Some(SinkCall::Silence { at }) if *at - start == Duration::from_millis(3_050)),
            "{calls:?}"
        );
        assert_eq!(record.silence_times().len(), 1);
        // nothing is started after the cancellation
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(record.play_times().len(), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn an_already_cancelled_token_plays_nothing() {
        let mut sink = RecordingSink::new();
        let cancel = CancellationToken::new();
        cancel.cancel();
        let outcome = play_plan(
            &mut sink,
            &clicks(),
            PlayOptions::new(Instant::now(), 0),
            &cancel,
            |_| {},
        )
        .await
        .unwrap();
        assert_eq!(outcome.stopped, Stopped::Cancelled);
        assert!(sink.play_times().is_empty());
        assert_eq!(sink.silence_times().len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_long_session_does_not_drift() {
        // two hours of counts every 2 s: the last lands exactly on time
        let tl: Vec<TimedClip> = (0..3_600)
            .map(|i| TimedClip {
                at_ms: i * 2_000,
                clip: click(10),
                cue: i as usize,
            })
            .collect();
        let mut sink = RecordingSink::new();
        let start = Instant::now();
        play_plan(
            &mut sink,
            &tl,
            PlayOptions::new(start, 0),
            &CancellationToken::new(),
            |_| {},
        )
        .await
        .unwrap();
        let times = sink.play_times();
        assert_eq!(times.len(), 3_600);
        assert_eq!(
            *times.last().unwrap() - start,
            Duration::from_millis(7_198_000)
        );
    }

    #[test]
    fn timeline_pairs_cues_with_clips_in_order() {
        use crate::plan::CueKind;
        let cue = |at_ms, text: &str| Cue {
            at_ms,
            duration_ms: 100,
            kind: CueKind::Count,
            text: text.into(),
            step: Some(0),
            rep: None,
            sound: None,
        };
        let cues = [cue(0, "one"), cue(2000, "two"), cue(4000, "three")];
        let tl = timeline(&cues, |c| click(c.text.len() as u64 * 10));
        assert_eq!(
            tl.iter().map(|t| (t.at_ms, t.cue)).collect::<Vec<_>>(),
            [(0, 0), (2000, 1), (4000, 2)]
        );
        assert_eq!(tl[2].clip.duration_ms(), 50);
    }
}
