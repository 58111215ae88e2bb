//! The hand-over on tokio's paused clock, so every time is exact.

use std::sync::Arc;

use super::*;
use crate::audio::{RecordingSink, SinkCall};
use crate::plan::{Cue, CueKind, Plan};
use crate::session::{RESUME_GAP, State};

fn click(ms: u64) -> Clip {
    Clip::tone(1000.0, ms, 8_000)
}

/// A plan of 100 ms counts at `offsets`, ending at `total_ms`.
fn plan_of(offsets: impl IntoIterator<Item = Ms>, clip_ms: Ms, total_ms: Ms) -> Arc<Plan> {
    let cues = offsets
        .into_iter()
        .enumerate()
        .map(|(i, at_ms)| Cue {
            at_ms,
            duration_ms: clip_ms,
            kind: CueKind::Count,
            text: format!("{}", i + 1),
            step: None,
            rep: None,
            sound: None,
        })
        .collect();
    Arc::new(Plan {
        routine: "clicks".into(),
        total_ms,
        steps: Vec::new(),
        cues,
        stretches: Vec::new(),
        warnings: Vec::new(),
        notes: Vec::new(),
        values: Vec::new(),
    })
}

/// Ten clicks a second apart, then three at 300 ms; the plan ends when the
/// last click has.
fn clicks() -> Arc<Plan> {
    let offsets = (0..10).map(|i| i * 1000).chain([10_000, 10_300, 10_600]);
    plan_of(offsets, 100, 10_700)
}

fn offsets_ms(times: &[Instant], start: Instant) -> Vec<u128> {
    times.iter().map(|t| (*t - start).as_millis()).collect()
}

fn click_clip(_cue: usize) -> Option<Clip> {
    Some(click(100))
}

#[tokio::test(start_paused = true)]
async fn every_clip_is_due_exactly_on_its_deadline_and_handed_over_ahead() {
    let mut sink = RecordingSink::new();
    let record = sink.clone();
    let plan = clicks();
    let playback = Playback::new(Clock::start());
    // the session starts half a second after the clock's zero
    let mut session = Session::start(Arc::clone(&plan), 500);
    let start = playback.clock().instant(500);
    let mut handovers = Vec::new();
    playback
        .play(
            &mut session,
            &mut sink,
            click_clip,
            &CancellationToken::new(),
            |h| handovers.push(h.clone()),
        )
        .await
        .unwrap();

    let expected: Vec<u128> = plan.cues.iter().map(|c| u128::from(c.at_ms)).collect();
    assert_eq!(offsets_ms(&record.due_times(), start), expected);
    for t in record.due_times() {
        assert_eq!((t - start).subsec_nanos() % 1_000_000, 0, "not on the ms");
    }
    // each was handed over ahead of its deadline by exactly the hand-over
    // time, however the waits fell
    let ahead = Duration::from_millis(HAND_OVER_AHEAD_MS);
    let handed: Vec<Instant> = record.due_times().iter().map(|t| *t - ahead).collect();
    assert_eq!(record.play_times(), handed);
    assert_eq!(session.state(), State::Finished);
    assert_eq!((record.play_times().len(), session.dropped()), (13, 0));
    // it returns when the session ends, after the last 100 ms click
    assert_eq!(Instant::now() - start, Duration::from_millis(10_700));
    assert!(handovers.iter().all(|h| h.dropped.is_none()));
    let said: Vec<usize> = handovers
        .iter()
        .filter_map(|h| match h.next {
            Handed::Cue { cue, clip_ms, .. } => {
                assert_eq!(clip_ms, 100);
                Some(cue)
            }
            _ => None,
        })
        .collect();
    assert_eq!(said, (0..13).collect::<Vec<_>>());
    assert!(record.silence_times().is_empty());
}

#[tokio::test(start_paused = true)]
async fn resuming_from_an_offset_skips_earlier_cues_and_keeps_deadlines() {
    let mut sink = RecordingSink::new();
    let record = sink.clone();
    let playback = Playback::new(Clock::start());
    let mut session = Session::paused_at(clicks(), 4_000);
    // a resume with no phrase to say carries on after the resume gap
    assert!(session.resume(0, 0));
    let start = playback.clock().instant(RESUME_GAP);
    playback
        .play(
            &mut session,
            &mut sink,
            click_clip,
            &CancellationToken::new(),
            |_| {},
        )
        .await
        .unwrap();
    assert_eq!(
        offsets_ms(&record.due_times(), start),
        [0, 1000, 2000, 3000, 4000, 5000, 6000, 6300, 6600]
    );
    assert_eq!((record.play_times().len(), session.dropped()), (9, 0));
}

/// What a player task gives back: the session, every hand-over, and how
/// it ended.
type Played = (Session, Vec<Handover>, Result<(), AudioError>);

/// Plays `plan` from clock 0 in a task of its own; returns the sink's
/// record, the stop token, the clock's zero and the task.
fn spawn_player(
    plan: Arc<Plan>,
) -> (
    RecordingSink,
    CancellationToken,
    Instant,
    tokio::task::JoinHandle<Played>,
) {
    let mut sink = RecordingSink::new();
    let record = sink.clone();
    let stop = CancellationToken::new();
    let token = stop.clone();
    let playback = Playback::new(Clock::start());
    let start = playback.clock().instant(0);
    let player = tokio::spawn(async move {
        let mut session = Session::start(plan, 0);
        let mut handovers = Vec::new();
        let result = playback
            .play(&mut session, &mut sink, click_clip, &token, |h| {
                handovers.push(h.clone())
            })
            .await;
        (session, handovers, result)
    });
    (record, stop, start, player)
}

#[tokio::test(start_paused = true)]
async fn a_stall_drops_exactly_the_stale_cues() {
    let (record, _stop, start, player) = spawn_player(clicks());

    // at 2.5 s the whole process freezes for 5 s: no task runs while the
    // clock jumps to 7.5 s
    tokio::time::sleep_until(start + Duration::from_millis(2_500)).await;
    tokio::time::advance(Duration::from_secs(5)).await;
    let (session, handovers, result) = player.await.unwrap();
    result.unwrap();

    // 3 s … 7 s were due during the stall: 3, 4, 5, 6, 7 s are stale by
    // more than 150 ms when the player wakes at 7.5 s; 8 s is still ahead
    assert_eq!(
        offsets_ms(&record.due_times(), start),
        [0, 1000, 2000, 8000, 9000, 10_000, 10_300, 10_600]
    );
    assert_eq!((record.play_times().len(), session.dropped()), (8, 5));
    let dropped: Vec<&Dropped> = handovers
        .iter()
        .filter_map(|h| h.dropped.as_ref())
        .collect();
    assert_eq!(
        dropped,
        [&Dropped {
            cues: 3..8,
            late_ms: 4_500,
        }]
    );
}

#[tokio::test(start_paused = true)]
async fn a_cue_just_within_the_tolerance_is_still_played() {
    let (record, _stop, start, player) = spawn_player(clicks());
    // wake 100 ms after the 3 s deadline: late, but not stale
    tokio::time::sleep_until(start + Duration::from_millis(2_500)).await;
    tokio::time::advance(Duration::from_millis(600)).await;
    let (session, _, result) = player.await.unwrap();
    result.unwrap();
    let times = offsets_ms(&record.play_times(), start);
    // the first is due at once; the next are handed over 250 ms ahead
    assert_eq!(&times[..4], [0, 750, 1750, 3100]);
    // the sink is told when the late one was due, so an output that queues
    // ahead can still start it on its sample
    let due = offsets_ms(&record.due_times(), start);
    assert_eq!(&due[..4], [0, 1000, 2000, 3000]);
    // the next deadline is still 4 s: being late once shifts nothing
    assert_eq!((times[4], due[4]), (3750, 4000));
    assert_eq!(session.dropped(), 0);
}

#[tokio::test(start_paused = true)]
async fn stopping_pauses_silences_at_once_and_keeps_the_position() {
    let (record, stop, start, player) = spawn_player(clicks());
    // 50 ms into the 3 s click, which is still sounding
    tokio::time::sleep_until(start + Duration::from_millis(3_050)).await;
    stop.cancel();
    let (session, _, result) = player.await.unwrap();
    result.unwrap();

    assert_eq!(session.state(), State::Paused);
    assert_eq!(session.position(u64::MAX), 3_050);
    assert_eq!(record.play_times().len(), 4);
    let calls = record.calls();
    assert!(
        matches!(calls.last(), Some(SinkCall::Silence { at }) if *at - start == Duration::from_millis(3_050)),
        "{calls:?}"
    );
    assert_eq!(record.silence_times().len(), 1);
    // nothing is started after the stop
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(record.play_times().len(), 4);
}

#[tokio::test(start_paused = true)]
async fn an_already_stopped_player_plays_nothing() {
    let mut sink = RecordingSink::new();
    let stop = CancellationToken::new();
    stop.cancel();
    let playback = Playback::new(Clock::start());
    let mut session = Session::start(clicks(), 0);
    playback
        .play(&mut session, &mut sink, click_clip, &stop, |_| {})
        .await
        .unwrap();
    assert_eq!(session.state(), State::Paused);
    assert!(sink.play_times().is_empty());
    assert_eq!(sink.silence_times().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_long_session_does_not_drift() {
    // two hours of counts every 2 s: the last lands exactly on time
    let plan = plan_of((0..3_600).map(|i| i * 2_000), 10, 7_198_010);
    let mut sink = RecordingSink::new();
    let playback = Playback::new(Clock::start());
    let start = playback.clock().instant(0);
    let mut session = Session::start(plan, 0);
    playback
        .play(
            &mut session,
            &mut sink,
            |_| Some(click(10)),
            &CancellationToken::new(),
            |_| {},
        )
        .await
        .unwrap();
    let due = sink.due_times();
    assert_eq!(due.len(), 3_600);
    assert_eq!(
        *due.last().unwrap() - start,
        Duration::from_millis(7_198_000)
    );
    assert_eq!(
        *sink.play_times().last().unwrap() - start,
        Duration::from_millis(7_198_000 - HAND_OVER_AHEAD_MS)
    );
}

#[test]
fn without_an_output_a_cue_still_counts_as_said() {
    let playback = Playback::new(Clock::starting_at(Instant::now()));
    let mut session = Session::start(clicks(), 0);
    let mut asked = false;
    let handover = playback
        .hand_over(&mut session, 0, None::<&mut RecordingSink>, |_| {
            asked = true;
            Some(click(100))
        })
        .unwrap();
    assert_eq!(
        handover,
        Handover {
            next: Handed::Cue {
                cue: 0,
                due: 0,
                clip_ms: 0
            },
            dropped: None,
        }
    );
    // no clip is made for nobody to hear
    assert!(!asked);
    assert_eq!(session.next_cue(), 1);
}

/// An output that refuses every clip, as one whose device went away.
#[derive(Debug, Default)]
struct GoneSink {
    silenced: usize,
}

impl CueSink for GoneSink {
    fn play_at(&mut self, _clip: &Clip, _due: Instant) -> Result<(), AudioError> {
        Err(AudioError::Closed)
    }

    fn silence(&mut self) {
        self.silenced += 1;
    }
}

#[tokio::test(start_paused = true)]
async fn a_failing_output_is_silenced_and_its_error_returned() {
    let mut sink = GoneSink::default();
    let playback = Playback::new(Clock::start());
    let mut session = Session::start(clicks(), 0);
    let result = playback
        .play(
            &mut session,
            &mut sink,
            click_clip,
            &CancellationToken::new(),
            |_| {},
        )
        .await;
    assert!(matches!(result, Err(AudioError::Closed)), "{result:?}");
    assert_eq!(sink.silenced, 1);
}
