//! Builds the timeline of one session from a routine whose ranges have
//! been resolved. Spoken cues are laid end to end with calm gaps; counts
//! fall at the start of each repetition; cues inside a timed stretch are
//! placed only where they fit, so no two cues ever overlap.

use crate::routine::{CountMode, Ms, Routine, Step, Work};
use crate::speech::{ClipLengths, Sound};

use super::choice::Values;
use super::wording;
use super::{Cue, CueKind, Detail, Options, Plan, PlannedStep, Rep};

/// Silence after a spoken cue before the next one in a sequence.
const GAP: Ms = 400;
/// Extra time after the announcements to place the hands before work starts.
const READY: Ms = 600;
/// The least silence between a count and the next repetition's count, or
/// between two cues inside a stretch.
const MIN_SILENCE: Ms = 150;
/// After `prepare`, time to get into position.
const SETTLE: Ms = 2_000;
/// A timed stretch shorter than this has no countdown.
const COUNTDOWN_MIN: Ms = 5_000;
/// A time-left cue is given only when the stretch is this much longer.
const REMAINING_MARGIN: Ms = 5_000;
/// "Halfway" only for stretches at least this long.
const HALFWAY_MIN: Ms = 30_000;

/// A step with its ranges resolved.
#[derive(Debug)]
struct Resolved<'a> {
    step: &'a Step,
    rounds: u32,
    work: ResolvedWork<'a>,
}

#[derive(Debug)]
enum ResolvedWork<'a> {
    Timed(Ms),
    Counted {
        reps: u32,
        tempo: Ms,
        hold: Option<Ms>,
        count: CountMode,
    },
    Group(Vec<Resolved<'a>>),
}

fn resolve<'a>(step: &'a Step, values: &mut Values<'_>, tempo_factor: f64) -> Resolved<'a> {
    let rounds = values.take_count();
    let work = match &step.work {
        Work::Timed { .. } => ResolvedWork::Timed(values.take()),
        Work::Counted {
            tempo, hold, count, ..
        } => {
            let reps = values.take_count();
            let hold = hold.map(|_| values.take());
            ResolvedWork::Counted {
                reps,
                tempo: ((*tempo as f64) / tempo_factor).round() as Ms,
                hold,
                count: *count,
            }
        }
        Work::Group { parts } => ResolvedWork::Group(
            parts
                .iter()
                .map(|part| resolve(part, values, tempo_factor))
                .collect(),
        ),
    };
    Resolved { step, rounds, work }
}

/// Builds the plan for resolved `values` (in the order of `choice::knobs`).
/// `length_phrase` is the "About N minutes." said at the start.
pub(crate) fn build(
    routine: &Routine,
    options: &Options,
    lengths: &dyn ClipLengths,
    values: &[u64],
    length_phrase: Option<&str>,
) -> Plan {
    let mut values = Values::new(values);
    let steps: Vec<Resolved> = routine
        .steps
        .iter()
        .map(|step| resolve(step, &mut values, options.tempo))
        .collect();
    debug_assert!(values.is_exhausted());

    let mut b = Builder {
        lengths,
        options,
        cues: Vec::new(),
        t: 0,
        step: None,
        warnings: Vec::new(),
    };

    b.speak(CueKind::Title, &wording::sentence(&routine.name));
    for caution in &routine.cautions {
        b.speak(CueKind::Caution, &wording::sentence(caution));
    }
    if let (Some(course), Some(n)) = (routine.course, options.session_number) {
        b.speak(CueKind::Course, &wording::course(n, course.high.max(n)));
    }
    if let Some(phrase) = length_phrase {
        b.speak(CueKind::Length, phrase);
    }
    if let Some(prepare) = &routine.prepare {
        b.speak(CueKind::Prepare, &wording::sentence(prepare));
        b.t += SETTLE;
    }

    let mut planned = Vec::with_capacity(steps.len());
    for (index, resolved) in steps.iter().enumerate() {
        let next = steps.get(index + 1).map(|s| spoken_name(s.step));
        let start = b.t;
        b.step = Some(index);
        b.top_step(resolved, next);
        planned.push(PlannedStep {
            index,
            name: resolved.step.name.clone(),
            start_ms: start,
            end_ms: b.t,
            reps: match resolved.work {
                ResolvedWork::Counted { reps, .. } => Some(reps),
                _ => None,
            },
            tip: resolved.step.tip.clone(),
        });
    }

    b.step = None;
    b.speak(CueKind::End, wording::SESSION_COMPLETE);
    b.sound(CueKind::Chime, Sound::Chime);

    Plan {
        routine: routine.name.clone(),
        total_ms: b.t,
        steps: planned,
        cues: b.cues,
        warnings: b.warnings,
    }
}

fn spoken_name(step: &Step) -> &str {
    step.say.as_deref().unwrap_or(&step.name)
}

struct Builder<'a> {
    lengths: &'a dyn ClipLengths,
    options: &'a Options,
    cues: Vec<Cue>,
    /// Where the next sequential cue goes.
    t: Ms,
    step: Option<usize>,
    warnings: Vec<String>,
}

/// A cue waiting for a place inside a timed stretch.
struct Candidate {
    at: Ms,
    kind: CueKind,
    text: String,
}

impl Builder<'_> {
    fn cue(&self, at: Ms, kind: CueKind, text: &str, rep: Option<Rep>) -> Cue {
        Cue {
            at_ms: at,
            duration_ms: self.lengths.speech_ms(text),
            kind,
            text: text.to_string(),
            step: self.step,
            rep,
            sound: None,
        }
    }

    /// Says `text` now and moves on past it and a calm gap.
    fn speak(&mut self, kind: CueKind, text: &str) {
        let cue = self.cue(self.t, kind, text, None);
        self.t = cue.end_ms() + GAP;
        self.cues.push(cue);
    }

    /// Sounds a non-speech clip now and moves past it.
    fn sound(&mut self, kind: CueKind, sound: Sound) {
        let duration = self.lengths.sound_ms(sound);
        self.cues.push(Cue {
            at_ms: self.t,
            duration_ms: duration,
            kind,
            text: format!("{sound:?}").to_lowercase(),
            step: self.step,
            rep: None,
            sound: Some(sound),
        });
        self.t += duration;
    }

    fn warn(&mut self, step: &Step, what: String) {
        let line = format!("step \"{}\" (line {}): {what}", step.name, step.line);
        if !self.warnings.contains(&line) {
            self.warnings.push(line);
        }
    }

    /// A step of the routine: its announcement, then its work.
    fn top_step(&mut self, r: &Resolved, next: Option<&str>) {
        self.announce(CueKind::Announce, r);
        self.body(r, next);
    }

    /// The name (or `say`), how many or how long, and at `full` the tip.
    fn announce(&mut self, kind: CueKind, r: &Resolved) {
        self.speak(kind, &wording::sentence(spoken_name(r.step)));
        if self.options.detail != Detail::Brief {
            match r.work {
                ResolvedWork::Timed(time) => self.speak(kind, &wording::how_long(time)),
                ResolvedWork::Counted { reps, .. } => self.speak(kind, &wording::times(reps)),
                ResolvedWork::Group(_) => {}
            }
        }
        if self.options.detail == Detail::Full
            && let Some(tip) = &r.step.tip
        {
            self.speak(CueKind::Tip, &wording::sentence(tip));
        }
    }

    /// Rounds, then sides, then positions, each with its cue, around the
    /// work itself. `next` is the following step, previewed in the last
    /// stretch of this one.
    fn body(&mut self, r: &Resolved, next: Option<&str>) {
        let step = r.step;
        let sides: Vec<Option<&str>> = if step.sides.is_empty() {
            vec![None]
        } else {
            step.sides.iter().map(|s| Some(s.as_str())).collect()
        };
        let positions = step.positions.len().max(1);
        let chunks = r.rounds as usize * sides.len() * positions as usize;
        let mut chunk = 0;
        for round in 1..=r.rounds {
            if r.rounds > 1 {
                if round > 1 {
                    self.t += step.rest;
                }
                self.speak(CueKind::Round, &wording::round(round, r.rounds));
            }
            for (s, side) in sides.iter().enumerate() {
                if let Some(side) = side {
                    if s == 0 {
                        self.speak(CueKind::Side, &wording::first_side(side));
                    } else {
                        self.t += step.rest;
                        self.speak(CueKind::Side, &wording::switch_side(side));
                    }
                }
                for p in 0..positions {
                    if p > 0 {
                        match (&step.move_text, step.positions.label(p)) {
                            (Some(text), _) => self.speak(CueKind::Move, &wording::sentence(text)),
                            (None, None) => self.speak(CueKind::Move, wording::MOVE_ON),
                            (None, Some(_)) => {}
                        }
                    }
                    if let Some(label) = step.positions.label(p) {
                        self.speak(CueKind::Move, &wording::sentence(label));
                    }
                    chunk += 1;
                    let stretch = Stretch {
                        only: chunks == 1,
                        next: if chunk == chunks { next } else { None },
                        last: chunk == chunks,
                    };
                    self.work(r, &stretch);
                }
            }
        }
    }

    fn work(&mut self, r: &Resolved, stretch: &Stretch) {
        match &r.work {
            ResolvedWork::Timed(time) => self.timed(*time, stretch),
            ResolvedWork::Counted {
                reps,
                tempo,
                hold: None,
                count,
            } => self.counted(r.step, *reps, *tempo, *count),
            ResolvedWork::Counted {
                reps,
                hold: Some(hold),
                count,
                ..
            } => self.held(r.step, *reps, *hold, *count),
            ResolvedWork::Group(parts) => {
                for (i, part) in parts.iter().enumerate() {
                    self.announce(CueKind::Part, part);
                    let next = if stretch.last && i + 1 == parts.len() {
                        stretch.next
                    } else {
                        None
                    };
                    self.body(part, next);
                }
            }
        }
    }

    /// What is said at the start of repetition `n` of `of`, if anything.
    fn count_text(mode: CountMode, n: u32, of: u32) -> Option<String> {
        match mode {
            CountMode::Every => Some(wording::count(n)),
            CountMode::Milestones if n == of && of > 1 => Some(wording::LAST_ONE.to_string()),
            CountMode::Milestones if n.is_multiple_of(5) || n + 2 >= of => Some(wording::count(n)),
            CountMode::Milestones | CountMode::None => None,
        }
    }

    /// Repetitions at a steady tempo: the count (or a tick) at the start of
    /// each. When a count takes longer than the tempo allows, the whole
    /// stretch falls back to ticks.
    fn counted(&mut self, step: &Step, reps: u32, tempo: Ms, mode: CountMode) {
        let start = self.t + READY;
        let texts: Vec<Option<String>> = (1..=reps)
            .map(|n| Self::count_text(mode, n, reps))
            .collect();
        let room = tempo.saturating_sub(MIN_SILENCE);
        let too_long = texts
            .iter()
            .flatten()
            .map(|text| (text, self.lengths.speech_ms(text)))
            .find(|(_, ms)| *ms > room);
        let ticks_only = if let Some((text, ms)) = too_long {
            self.warn(
                step,
                format!(
                    "the count \"{text}\" takes {ms} ms to say, more than the {tempo} ms tempo allows; soft ticks are used instead"
                ),
            );
            true
        } else {
            false
        };
        let tick = self.lengths.sound_ms(Sound::Tick);
        for (i, text) in texts.into_iter().enumerate() {
            let n = i as u32 + 1;
            let at = start + i as Ms * tempo;
            let rep = Some(Rep { n, of: reps });
            match text.filter(|_| !ticks_only) {
                Some(text) => {
                    let cue = self.cue(at, CueKind::Count, &text, rep);
                    self.cues.push(cue);
                }
                None => self.cues.push(Cue {
                    at_ms: at,
                    duration_ms: tick.min(room),
                    kind: CueKind::Tick,
                    text: "tick".to_string(),
                    step: self.step,
                    rep,
                    sound: Some(Sound::Tick),
                }),
            }
        }
        self.t = start + reps as Ms * tempo;
    }

    /// Repetitions of press, hold, release, with `rest` after each.
    fn held(&mut self, step: &Step, reps: u32, hold: Ms, mode: CountMode) {
        let mut at = self.t + READY;
        for n in 1..=reps {
            let rep = Some(Rep { n, of: reps });
            let mut press_at = at;
            if let Some(text) = Self::count_text(mode, n, reps) {
                let cue = self.cue(at, CueKind::Count, &text, rep);
                press_at = cue.end_ms() + MIN_SILENCE;
                self.cues.push(cue);
            }
            let press = self.cue(press_at, CueKind::Press, wording::PRESS, rep);
            let release_at = (press_at + hold).max(press.end_ms() + MIN_SILENCE);
            if release_at > press_at + hold {
                self.warn(
                    step,
                    format!(
                        "the {hold} ms hold is shorter than saying \"press\"; it is lengthened"
                    ),
                );
            }
            self.cues.push(press);
            let release = self.cue(release_at, CueKind::Release, wording::RELEASE, rep);
            let end = release.end_ms();
            self.cues.push(release);
            at = end + if n < reps { step.rest.max(GAP) } else { GAP };
        }
        self.t = at;
    }

    /// A stretch of timed work: a countdown at its end, time-left cues and
    /// the next step's preview in the step's last stretch, "halfway" in a
    /// long step done in one stretch. Cues that would collide are left out,
    /// the most useful kept first.
    fn timed(&mut self, time: Ms, stretch: &Stretch) {
        let start = self.t + READY;
        let end = start + time;
        let mut wanted: Vec<Candidate> = Vec::new();
        if time >= COUNTDOWN_MIN {
            for n in (1..=self.options.cues.countdown).rev() {
                if let Some(at) = end.checked_sub(n as Ms * 1000) {
                    wanted.push(Candidate {
                        at,
                        kind: CueKind::Countdown,
                        text: wording::countdown(n),
                    });
                }
            }
        }
        let mut placed: Vec<Cue> = Vec::new();
        self.place(&mut placed, wanted, start, end);

        if stretch.last {
            let mut remaining = self.options.cues.remaining.clone();
            remaining.sort_unstable_by(|a, b| b.cmp(a));
            let last = remaining.last().copied();
            for left in remaining {
                if time < left + REMAINING_MARGIN {
                    continue;
                }
                let at = end - left;
                let cue = Candidate {
                    at,
                    kind: CueKind::Remaining,
                    text: wording::remaining(left),
                };
                let said = self.place(&mut placed, vec![cue], start, end);
                if let (Some(end_of_cue), Some(next), true) =
                    (said, stretch.next, Some(left) == last)
                {
                    let preview = Candidate {
                        at: end_of_cue + MIN_SILENCE,
                        kind: CueKind::Next,
                        text: wording::next(next),
                    };
                    self.place(&mut placed, vec![preview], start, end);
                }
            }
        }
        if stretch.only && time >= HALFWAY_MIN {
            let halfway = Candidate {
                at: start + time / 2,
                kind: CueKind::Halfway,
                text: wording::HALFWAY.to_string(),
            };
            self.place(&mut placed, vec![halfway], start, end);
        }
        placed.sort_by_key(|cue| cue.at_ms);
        self.cues.extend(placed);
        self.t = end;
    }

    /// Places each candidate that fits inside `[start, end)` without
    /// touching a cue already placed; returns where the last placed one ends.
    fn place(
        &self,
        placed: &mut Vec<Cue>,
        wanted: Vec<Candidate>,
        start: Ms,
        end: Ms,
    ) -> Option<Ms> {
        let mut last_end = None;
        for candidate in wanted {
            let cue = self.cue(candidate.at, candidate.kind, &candidate.text, None);
            let fits = cue.at_ms >= start
                && cue.end_ms() + MIN_SILENCE <= end
                && placed.iter().all(|other| {
                    cue.end_ms() + MIN_SILENCE <= other.at_ms
                        || other.end_ms() + MIN_SILENCE <= cue.at_ms
                });
            if fits {
                last_end = Some(cue.end_ms());
                placed.push(cue);
            }
        }
        last_end
    }
}

/// Where a stretch of work sits in its step.
struct Stretch<'a> {
    /// The step is done in this one stretch.
    only: bool,
    /// The step's last stretch.
    last: bool,
    /// The following step, previewed in this stretch.
    next: Option<&'a str>,
}
