//! The session as a pure state machine: where we are in the plan, and what
//! pause, resume, next, previous and repeat do. It is told the time (in
//! milliseconds of a monotonic clock the caller chooses) and never reads a
//! clock, so every rule here is tested exactly.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::ms::Ms;
use crate::plan::{CueKind, Plan, wording};

/// A cue whose deadline passed longer ago than this is dropped, not played:
/// after a stall (suspend, overload) stale counts never come in a burst.
pub const STALE_AFTER: Ms = 150;
/// `prev` this soon after a step began goes to the step before it.
pub const PREV_GRACE: Ms = 3_000;
/// Silence after the "Resuming" phrase before the plan carries on.
pub const RESUME_GAP: Ms = 400;
/// While a step waits for the go signal, its reminder is said this often.
pub const REMIND_EVERY: Ms = 60_000;
/// `next` past the last step ends the session only when pressed again
/// within this time.
pub const END_CONFIRM: Ms = 5_000;

/// The state a client sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Idle,
    Running,
    Paused,
    /// A waiting step was reached: the session carries on at the go
    /// signal (resume, toggle, play).
    Waiting,
    Finished,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    /// The plan's offset `anchor_pos` is reached at clock time `anchor_at`;
    /// `anchor_at` may lie in the future while the resume phrase is said.
    Running {
        anchor_at: Ms,
        anchor_pos: Ms,
    },
    Paused {
        pos: Ms,
    },
    /// At the waiting step's reminder (cue `cue`), last said at clock time
    /// `said_at`.
    Waiting {
        cue: usize,
        said_at: Ms,
    },
    Finished,
}

/// What the player should do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Play the plan's cue with this index now.
    Play(usize),
    /// Nothing is due before the clock reaches this time.
    Wait(Ms),
    /// The session is over (or paused): nothing more to play.
    Nothing,
}

/// Where the session is, for `status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    pub state: State,
    pub routine: String,
    /// 0-based index of the current step; `None` in the opening and closing.
    pub step: Option<usize>,
    pub step_name: Option<String>,
    /// Where in the step: "right side, place 2 of 5"; `None` for a step
    /// done in one stretch.
    pub stretch: Option<String>,
    pub steps: usize,
    /// Repetition `rep` of `reps` in a counted step.
    pub rep: Option<u32>,
    pub reps: Option<u32>,
    pub elapsed_ms: Ms,
    pub remaining_ms: Ms,
    /// Time left in the current step.
    pub step_remaining_ms: Option<Ms>,
}

/// One session of one plan.
#[derive(Debug, Clone)]
pub struct Session {
    plan: Arc<Plan>,
    phase: Phase,
    /// Index of the next cue to play.
    next: usize,
    /// Cues dropped as stale since the session started.
    dropped: usize,
    /// When a `next` past the last step was held back, waiting for a
    /// second press.
    end_asked_at: Option<Ms>,
    /// Why the last move was held back, for the caller to say.
    notice: Option<&'static str>,
    /// The length booked for the session (`start --length`), which the
    /// caller keeps by fitting the plan again after every change.
    booked: Option<Ms>,
    /// How much of the plan was skipped by jumps (less what was played
    /// again): the session lasts the plan's length less this.
    skipped: i64,
    /// The stretches of the plan played so far, as (from, to) plan
    /// offsets, not counting the run under way.
    heard: Vec<(Ms, Ms)>,
}

/// Which way a move went, for [`Session::where_phrase`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moved {
    Next,
    Prev,
    /// This stretch again.
    Repeat,
    /// This whole step again.
    RepeatStep,
}

/// Said when `next` past the last step is held back, and when `next` is
/// pressed during the cautions.
pub use crate::plan::wording::{CAUTIONS_FIRST, CONFIRM_END};

impl Session {
    /// A session that starts playing the plan at clock time `now`.
    pub fn start(plan: Arc<Plan>, now: Ms) -> Session {
        Session {
            plan,
            phase: Phase::Running {
                anchor_at: now,
                anchor_pos: 0,
            },
            next: 0,
            dropped: 0,
            end_asked_at: None,
            notice: None,
            booked: None,
            skipped: 0,
            heard: Vec::new(),
        }
    }

    /// A session restored paused at plan offset `pos` (after a restart).
    pub fn paused_at(plan: Arc<Plan>, pos: Ms) -> Session {
        let pos = pos.min(plan.total_ms);
        let next = first_cue_at_or_after(&plan, pos);
        Session {
            plan,
            phase: Phase::Paused { pos },
            next,
            dropped: 0,
            end_asked_at: None,
            notice: None,
            booked: None,
            skipped: 0,
            heard: Vec::new(),
        }
    }

    /// The same session, with `heard` (see [`Session::heard`]) played
    /// already: a session restored, or brought back after a stop.
    pub fn with_heard(mut self, heard: Vec<(Ms, Ms)>) -> Session {
        self.heard = heard;
        self
    }

    /// The parts of the plan played so far, as (from, to) plan offsets,
    /// merged and in order, the run under way at `now` included.
    pub fn heard(&self, now: Ms) -> Vec<(Ms, Ms)> {
        let mut all = self.heard.clone();
        if let Phase::Running { anchor_pos, .. } = self.phase {
            let to = self.position(now);
            if to > anchor_pos {
                all.push((anchor_pos, to));
            }
        }
        all.sort_unstable();
        let mut merged: Vec<(Ms, Ms)> = Vec::with_capacity(all.len());
        for (from, to) in all {
            match merged.last_mut() {
                Some(last) if from <= last.1 => last.1 = last.1.max(to),
                _ => merged.push((from, to)),
            }
        }
        merged
    }

    /// How much of the planned work (the steps, from the first step's start
    /// to the last one's end) has been played by `now`, each part counted
    /// once however often it was repeated.
    pub fn heard_work_ms(&self, now: Ms) -> Ms {
        let (from, to) = (self.opening_end(), self.closing_start());
        self.heard(now)
            .into_iter()
            .map(|(a, b)| b.min(to).saturating_sub(a.max(from)))
            .sum()
    }

    /// How long the planned work lasts: from the first step's start to the
    /// last one's end.
    pub fn work_ms(&self) -> Ms {
        self.closing_start().saturating_sub(self.opening_end())
    }

    /// Ends the run under way at `now` in the record of what was heard.
    fn close_run(&mut self, now: Ms) {
        if let Phase::Running { anchor_pos, .. } = self.phase {
            let to = self.position(now);
            if to > anchor_pos {
                self.heard.push((anchor_pos, to));
                self.heard = self.heard(now);
            }
        }
    }

    /// While running, the plan stands still from `now` until clock time
    /// `until` (while the daemon says something), then carries on from the
    /// start of the cue or repetition under way at `now`, so that nothing
    /// is cut off unsaid.
    pub fn hold(&mut self, now: Ms, until: Ms) {
        if let Phase::Running { .. } = self.phase {
            let pos = self.resume_point(now);
            self.close_run(now);
            self.seek(pos, Some(until.max(now)));
        }
    }

    /// The notice of a held-back end is said until `until`: a second press
    /// counts from then, not from the first press.
    pub fn notice_said_until(&mut self, until: Ms) {
        if self.end_asked_at.is_some() {
            self.end_asked_at = Some(until);
        }
    }

    /// The session keeps to a booked length of `booked` ms, with `skipped`
    /// ms of its plan skipped so far (see [`Session::skipped`]).
    pub fn with_booking(mut self, booked: Option<Ms>, skipped: i64) -> Session {
        self.booked = booked;
        self.skipped = skipped;
        self
    }

    /// How much of the plan jumps skipped (negative: played again).
    pub fn skipped(&self) -> i64 {
        self.skipped
    }

    /// The length the plan must have for the session to last its booking,
    /// given what was skipped; `None` without a booking.
    pub fn booked_total(&self) -> Option<Ms> {
        self.booked
            .map(|b| (i64::try_from(b).unwrap_or(i64::MAX) + self.skipped).max(0) as Ms)
    }

    /// How much longer than booked the session will last (negative: it
    /// ends early), pauses aside; `None` without a booking.
    pub fn over_ms(&self) -> Option<i64> {
        self.booked_total()
            .map(|total| self.plan.total_ms as i64 - total as i64)
    }

    /// Goes on with `plan`, a change of this one from a point at or before
    /// where the session is (see [`crate::plan::adjust()`]): the position
    /// and the state stay as they are, and no cue already handed out is
    /// given again.
    pub fn replace_plan(&mut self, plan: Arc<Plan>, now: Ms) {
        let pos = self.position(now).min(plan.total_ms);
        let handed = self
            .next
            .checked_sub(1)
            .and_then(|i| self.plan.cues.get(i))
            .map(|c| c.at_ms);
        let next = first_cue_at_or_after(&plan, pos);
        let after_handed = handed.map_or(0, |at| plan.cues.partition_point(|c| c.at_ms <= at));
        self.next = next.max(after_handed);
        self.phase = match self.phase {
            Phase::Waiting { cue, said_at } => {
                let at = self.plan.cues[cue].at_ms;
                let same = plan
                    .cues
                    .iter()
                    .position(|c| c.at_ms == at && c.kind == CueKind::Wait);
                match same {
                    Some(cue) => Phase::Waiting { cue, said_at },
                    None => Phase::Paused { pos },
                }
            }
            Phase::Paused { .. } => Phase::Paused { pos },
            other => other,
        };
        self.plan = plan;
    }

    pub fn plan(&self) -> &Arc<Plan> {
        &self.plan
    }

    pub fn state(&self) -> State {
        match self.phase {
            Phase::Running { .. } => State::Running,
            Phase::Paused { .. } => State::Paused,
            Phase::Waiting { .. } => State::Waiting,
            Phase::Finished => State::Finished,
        }
    }

    /// How many cues were dropped as stale.
    pub fn dropped(&self) -> usize {
        self.dropped
    }

    /// Index in the plan of the next cue to play (the plan's length when
    /// none is left).
    pub fn next_cue(&self) -> usize {
        self.next
    }

    /// The plan offset at clock time `now`.
    pub fn position(&self, now: Ms) -> Ms {
        match self.phase {
            Phase::Running {
                anchor_at,
                anchor_pos,
            } => (anchor_pos + now.saturating_sub(anchor_at)).min(self.plan.total_ms),
            Phase::Paused { pos } => pos,
            Phase::Waiting { cue, .. } => self.plan.cues[cue].at_ms,
            Phase::Finished => self.plan.total_ms,
        }
    }

    /// The clock time at which cue `i` is due, while running.
    pub fn deadline(&self, i: usize) -> Option<Ms> {
        self.plan.cues.get(i).and_then(|c| self.clock_at(c.at_ms))
    }

    /// The clock time at which plan offset `pos` is reached while running.
    fn clock_at(&self, pos: Ms) -> Option<Ms> {
        match self.phase {
            Phase::Running {
                anchor_at,
                anchor_pos,
            } => Some(anchor_at + pos.saturating_sub(anchor_pos)),
            _ => None,
        }
    }

    /// What to do at clock time `now`: play the next cue, wait until its
    /// deadline, or nothing. Cues more than [`STALE_AFTER`] late are
    /// skipped and counted. Call again after playing a cue.
    pub fn due(&mut self, now: Ms) -> Due {
        self.due_ahead(now, 0)
    }

    /// [`Session::due`], with a cue due `ahead` ms before its deadline (and
    /// the wait ending that much earlier), for an output that starts each
    /// clip on the sample of its deadline: then a wake-up up to `ahead` ms
    /// late does not move the cue. Staleness is still measured from the
    /// deadline, and the session ends at its end, not before.
    pub fn due_ahead(&mut self, now: Ms, ahead: Ms) -> Due {
        if let Phase::Waiting { cue, said_at } = self.phase {
            // the reminder again, every minute, until the go signal
            let again = said_at + REMIND_EVERY;
            if now + ahead < again {
                return Due::Wait(again - ahead);
            }
            self.phase = Phase::Waiting {
                cue,
                said_at: again.max(now.saturating_sub(ahead)),
            };
            return Due::Play(cue);
        }
        let Phase::Running { .. } = self.phase else {
            return Due::Nothing;
        };
        let plan = Arc::clone(&self.plan);
        while let Some(cue) = plan.cues.get(self.next) {
            let deadline = self.clock_at(cue.at_ms).unwrap_or(now);
            if now + ahead < deadline {
                return Due::Wait(deadline - ahead);
            }
            self.next += 1;
            if cue.kind == CueKind::Wait {
                // said even when late: it is the one cue that says the
                // session now waits
                self.close_run(deadline);
                self.phase = Phase::Waiting {
                    cue: self.next - 1,
                    said_at: deadline,
                };
                return Due::Play(self.next - 1);
            }
            if now.saturating_sub(deadline) <= STALE_AFTER {
                return Due::Play(self.next - 1);
            }
            self.dropped += 1;
        }
        let end = self.clock_at(self.plan.total_ms).unwrap_or(now);
        if now < end {
            return Due::Wait(end);
        }
        self.close_run(end);
        self.phase = Phase::Finished;
        Due::Nothing
    }

    /// Pauses at `now`; returns false when there was nothing to pause.
    /// A waiting session pauses at its waiting step, which waits again
    /// when resumed.
    pub fn pause(&mut self, now: Ms) -> bool {
        match self.phase {
            Phase::Running { .. } | Phase::Waiting { .. } => {
                let pos = self.position(now);
                self.close_run(now);
                self.phase = Phase::Paused { pos };
                true
            }
            _ => false,
        }
    }

    /// Where a resume carries on: the start of the repetition that was
    /// under way, or of the cue that was cut off.
    pub fn resume_point(&self, now: Ms) -> Ms {
        let pos = self.position(now);
        let cues = &self.plan.cues;
        // the latest cue that has begun
        let Some(mut i) = cues.iter().rposition(|c| c.at_ms <= pos) else {
            return 0;
        };
        if let Some(rep) = cues[i].rep {
            // back to the first cue of that repetition (a count before its press)
            while i > 0 && cues[i - 1].rep == Some(rep) && cues[i - 1].step == cues[i].step {
                i -= 1;
            }
            return cues[i].at_ms;
        }
        let cue = &cues[i];
        if pos < cue.end_ms() { cue.at_ms } else { pos }
    }

    /// What is said when resuming: "Resuming: Deep stroking, 7 of 15.";
    /// nothing at the go signal of a waiting step, whose next step is
    /// announced at once.
    pub fn resume_phrase(&self, now: Ms) -> Option<String> {
        if let Phase::Waiting { .. } = self.phase {
            return None;
        }
        let point = self.resume_point(now);
        let status = self.status_at(point, State::Paused);
        Some(match status.step_name {
            Some(name) => wording::resuming(
                &name,
                status.stretch.as_deref(),
                status.rep.zip(status.reps),
            ),
            None => wording::resuming(&self.plan.routine, None, None),
        })
    }

    /// What is said after a move, naming where the session now is: "Next:
    /// Kneading, right side.", "Back to Kneading, left side.", "Right side,
    /// again."; nothing once the steps are over.
    pub fn where_phrase(&self, now: Ms, moved: Moved) -> Option<String> {
        let pos = self.position(now);
        let status = self.status_at(pos, self.state());
        let Some(step) = status.step_name else {
            return (pos < self.opening_end()).then(|| wording::BACK_TO_START.to_string());
        };
        let stretch = status.stretch.as_deref();
        Some(match moved {
            Moved::Next => wording::moved_on(&step, stretch),
            Moved::Prev => wording::moved_back(&step, stretch),
            Moved::Repeat => wording::again(&step, stretch),
            Moved::RepeatStep => wording::again(&step, None),
        })
    }

    /// Resumes a paused session at `now`, or carries a waiting one on (the
    /// go signal). The caller first says the [`Session::resume_phrase`],
    /// which lasts `phrase_ms`; the plan carries on from the
    /// [`Session::resume_point`] once it is said. A waiting session carries
    /// on after its reminder.
    pub fn resume(&mut self, now: Ms, phrase_ms: Ms) -> bool {
        match self.phase {
            Phase::Paused { .. } => {
                let pos = self.resume_point(now);
                self.seek(pos, Some(now + phrase_ms + RESUME_GAP));
                true
            }
            Phase::Waiting { cue, .. } => {
                let pos = self.plan.cues[cue].end_ms();
                self.seek(pos, Some(now));
                true
            }
            _ => false,
        }
    }

    /// Moves to plan offset `pos`: running from clock time `from` when
    /// given, else paused there.
    fn seek(&mut self, pos: Ms, from: Option<Ms>) {
        let pos = pos.min(self.plan.total_ms);
        self.next = first_cue_at_or_after(&self.plan, pos);
        self.phase = match from {
            Some(anchor_at) => Phase::Running {
                anchor_at,
                anchor_pos: pos,
            },
            None => Phase::Paused { pos },
        };
    }

    /// A jump keeps a running session running and a paused one paused; a
    /// waiting one runs from where it jumps to.
    fn jump(&mut self, now: Ms, pos: Ms) {
        let from = self.position(now);
        if self.phase != Phase::Finished {
            self.skipped += pos as i64 - from as i64;
        }
        self.close_run(now);
        match self.phase {
            Phase::Running { .. } | Phase::Waiting { .. } => self.seek(pos, Some(now)),
            Phase::Paused { .. } => self.seek(pos, None),
            Phase::Finished => {}
        }
    }

    /// Why the last `next` was held back, once: the cautions are under
    /// way, or it would end the session and waits for a second press.
    pub fn take_notice(&mut self) -> Option<&'static str> {
        self.notice.take()
    }

    /// Whether a `next` to plan offset `target` may go ahead at `now`: not
    /// while the cautions are said, and past the last step only at a second
    /// press within [`END_CONFIRM`].
    fn may_go_on(&mut self, now: Ms, target: Ms) -> bool {
        if self.position(now) < self.cautions_end() {
            self.notice = Some(CAUTIONS_FIRST);
            return false;
        }
        if target < self.closing_start() {
            return true;
        }
        if self
            .end_asked_at
            .is_some_and(|at| now.saturating_sub(at) <= END_CONFIRM)
        {
            self.end_asked_at = None;
            return true;
        }
        self.end_asked_at = Some(now);
        self.notice = Some(CONFIRM_END);
        false
    }

    /// Where the last caution has been said.
    fn cautions_end(&self) -> Ms {
        self.plan
            .cues
            .iter()
            .filter(|c| c.kind == CueKind::Caution)
            .map(|c| c.end_ms())
            .max()
            .unwrap_or(0)
    }

    /// Jumps to the start of the next step (or the closing after the last).
    pub fn next_step(&mut self, now: Ms) {
        let pos = self.position(now);
        let target = match self.step_at(pos) {
            Some(i) => self
                .plan
                .steps
                .get(i + 1)
                .map_or(self.closing_start(), |s| s.start_ms),
            None if pos < self.opening_end() => self.opening_end(),
            None => return,
        };
        if self.may_go_on(now, target) {
            self.jump(now, target);
        }
    }

    /// Jumps to the start of this step, or the previous one when this one
    /// began less than [`PREV_GRACE`] ago.
    pub fn prev_step(&mut self, now: Ms) {
        let pos = self.position(now);
        let current = self.step_at(pos).or_else(|| {
            // in the closing, "previous" is the last step
            (pos >= self.closing_start()).then(|| self.plan.steps.len().saturating_sub(1))
        });
        let Some(i) = current else {
            self.jump(now, 0);
            return;
        };
        let start = self.plan.steps[i].start_ms;
        let target =
            if pos.saturating_sub(start) < PREV_GRACE && i > 0 && self.step_at(pos).is_some() {
                self.plan.steps[i - 1].start_ms
            } else {
                start
            };
        self.jump(now, target);
    }

    /// Jumps to the start of the next stretch (the next side, place, part,
    /// round or held repetition), or of the next step after a step's last.
    pub fn next_stretch(&mut self, now: Ms) {
        let pos = self.position(now);
        let target = match self.stretch_at(pos) {
            Some(i) => self
                .plan
                .stretches
                .get(i + 1)
                .map_or(self.closing_start(), |s| s.start_ms),
            None => return self.next_step(now),
        };
        if self.may_go_on(now, target) {
            self.jump(now, target);
        }
    }

    /// Jumps to the start of this stretch, or the previous one when this
    /// one began less than [`PREV_GRACE`] ago (so a second press goes one
    /// further back).
    pub fn prev_stretch(&mut self, now: Ms) {
        let pos = self.position(now);
        let current = self.stretch_at(pos).or_else(|| {
            (pos >= self.closing_start() && !self.plan.stretches.is_empty())
                .then(|| self.plan.stretches.len() - 1)
        });
        let Some(i) = current else {
            return self.prev_step(now);
        };
        let start = self.plan.stretches[i].start_ms;
        let in_it = self.stretch_at(pos).is_some();
        let target = if in_it && pos.saturating_sub(start) < PREV_GRACE && i > 0 {
            self.plan.stretches[i - 1].start_ms
        } else {
            start
        };
        self.jump(now, target);
    }

    /// Restarts the current stretch.
    pub fn repeat_stretch(&mut self, now: Ms) {
        let pos = self.position(now);
        match self.stretch_at(pos) {
            Some(i) => self.jump(now, self.plan.stretches[i].start_ms),
            None => self.repeat_step(now),
        }
    }

    /// The stretch under way at plan offset `pos`: the last to start at or
    /// before it, in the step under way.
    pub fn stretch_at(&self, pos: Ms) -> Option<usize> {
        let step = self.step_at(pos)?;
        let i = self
            .plan
            .stretches
            .partition_point(|s| s.start_ms <= pos)
            .checked_sub(1)?;
        (self.plan.stretches[i].step == step).then_some(i)
    }

    /// Restarts the current step.
    pub fn repeat_step(&mut self, now: Ms) {
        let pos = self.position(now);
        if let Some(i) = self.step_at(pos) {
            self.jump(now, self.plan.steps[i].start_ms);
        }
    }

    fn opening_end(&self) -> Ms {
        self.plan.steps.first().map_or(0, |s| s.start_ms)
    }

    fn closing_start(&self) -> Ms {
        self.plan.steps.last().map_or(0, |s| s.end_ms)
    }

    /// The step under way at plan offset `pos`.
    pub fn step_at(&self, pos: Ms) -> Option<usize> {
        self.plan
            .steps
            .iter()
            .position(|s| s.start_ms <= pos && pos < s.end_ms)
    }

    /// Where the session is at clock time `now`.
    pub fn status(&self, now: Ms) -> Status {
        self.status_at(self.position(now), self.state())
    }

    fn status_at(&self, pos: Ms, state: State) -> Status {
        let step = self.step_at(pos);
        let rep = step.and_then(|i| {
            let begun = first_cue_at_or_after(&self.plan, pos + 1);
            self.plan.cues[..begun]
                .iter()
                .rev()
                .take_while(|c| c.step == Some(i))
                .find_map(|c| c.rep)
        });
        let planned = step.map(|i| &self.plan.steps[i]);
        Status {
            state,
            routine: self.plan.routine.clone(),
            step,
            step_name: planned.map(|s| s.name.clone()),
            stretch: self
                .stretch_at(pos)
                .map(|i| self.plan.stretches[i].label.clone())
                .filter(|label| !label.is_empty()),
            steps: self.plan.steps.len(),
            rep: rep.map(|r| r.n),
            reps: rep.map(|r| r.of).or(planned.and_then(|s| s.reps)),
            elapsed_ms: pos,
            remaining_ms: self.plan.total_ms - pos,
            step_remaining_ms: planned.map(|s| s.end_ms - pos),
        }
    }

    /// Whether the cue with index `i` is the session's last spoken words.
    pub fn is_closing(&self, i: usize) -> bool {
        self.plan
            .cues
            .get(i)
            .is_some_and(|c| matches!(c.kind, CueKind::End | CueKind::Chime))
    }
}

fn first_cue_at_or_after(plan: &Plan, pos: Ms) -> usize {
    plan.cues.partition_point(|c| c.at_ms < pos)
}

#[cfg(test)]
mod tests;
