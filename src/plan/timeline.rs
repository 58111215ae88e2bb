//! Builds the timeline of one session from a routine whose ranges have
//! been resolved, the way a teacher beside the giver would cue it: every
//! change (a step, part, round, side or position) is announced at the start
//! of the move, then the hands get the step's transition time to move, then
//! work starts clearly, with its first count or "Begin.". Counts fall at the
//! start of each repetition; the guidance inside a stretch of timed work or
//! a hold follows one table ([`guidance`]) and is placed only where it fits,
//! so no two cues ever overlap.

use crate::ms::Ms;
use crate::routine::{CountMode, Routine, Step, Work};
use crate::speech::{ClipLengths, Sound};

use super::choice::Values;
use super::wording;
use super::{
    Cue, CueKind, CueSettings, Detail, Options, Plan, PlannedStep, PlannedStretch, Rep,
    StretchWork, WorkKind,
};

/// Silence after a spoken cue before the next one in a sequence.
const GAP: Ms = 400;
/// The least silence between a count and the next repetition's count, or
/// between two cues inside a stretch.
const MIN_SILENCE: Ms = 150;
/// After `prepare`, time to get into position.
const SETTLE: Ms = 2_000;

/// Which guidance a stretch gets, by what it is and how long it lasts: the
/// one rule for every stretch of timed work (each side, position, part and
/// round) and every hold. `docs/routines.md` prints this table.
///
/// | cue | timed work | a hold |
/// |---|---|---|
/// | "3. 2. 1." (`[cues] countdown`) | 5 s or more | 20 s or more |
/// | "Halfway." | 30 s or more | 20 s or more |
/// | "30 seconds left." (each of `[cues] remaining`) | at or after halfway, at least 10 s after it where "Halfway." is said, and the stretch at least 5 s longer than the time left | the same |
/// | "Breathe slowly." at a quarter | never | 40 s or more |
/// | "Next: …" after the last time-left cue | the step's last stretch | never |
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GuidanceRule {
    pub countdown_min: Ms,
    pub halfway_min: Ms,
    pub breathe_min: Option<Ms>,
}

/// The rule for a stretch of timed work.
pub(crate) const TIMED: GuidanceRule = GuidanceRule {
    countdown_min: 5_000,
    halfway_min: 30_000,
    breathe_min: None,
};
/// The rule for a hold.
pub(crate) const HOLD: GuidanceRule = GuidanceRule {
    countdown_min: 20_000,
    halfway_min: 20_000,
    breathe_min: Some(40_000),
};
/// A time-left cue is given only when the stretch is this much longer.
const REMAINING_MARGIN: Ms = 5_000;
/// A time-left cue comes at least this long after "Halfway.".
const AFTER_HALFWAY: Ms = 10_000;

/// A cue wanted at `at` ms from a stretch's start, most useful first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Wanted {
    pub at: Ms,
    pub kind: CueKind,
    pub text: String,
}

/// The guidance a stretch of `length` ms gets under `rule`, in the order
/// it is placed (the most useful first, so it wins where cues collide).
pub(crate) fn guidance(rule: GuidanceRule, length: Ms, cues: &CueSettings) -> Vec<Wanted> {
    let mut wanted = Vec::new();
    if length >= rule.countdown_min {
        for n in (1..=cues.countdown).rev() {
            if let Some(at) = length.checked_sub(n as Ms * 1000) {
                wanted.push(Wanted {
                    at,
                    kind: CueKind::Countdown,
                    text: wording::countdown(n),
                });
            }
        }
    }
    let mut remaining = cues.remaining.clone();
    remaining.sort_unstable_by(|a, b| b.cmp(a));
    for left in remaining {
        // never before halfway, and well after "Halfway." where that is
        // said, so that a short stretch is not talked through
        let at = length.saturating_sub(left);
        let after_halfway = if length >= rule.halfway_min {
            at >= length / 2 + AFTER_HALFWAY
        } else {
            at >= length / 2
        };
        if after_halfway && length >= left + REMAINING_MARGIN {
            wanted.push(Wanted {
                at: length - left,
                kind: CueKind::Remaining,
                text: wording::remaining(left),
            });
        }
    }
    if length >= rule.halfway_min {
        wanted.push(Wanted {
            at: length / 2,
            kind: CueKind::Halfway,
            text: wording::HALFWAY.to_string(),
        });
    }
    if let Some(min) = rule.breathe_min
        && length >= min
    {
        wanted.push(Wanted {
            at: length / 4,
            kind: CueKind::Breathe,
            text: wording::BREATHE.to_string(),
        });
    }
    wanted
}

/// A step with its ranges resolved.
#[derive(Debug)]
struct Resolved<'a> {
    step: &'a Step,
    rounds: u32,
    work: ResolvedWork<'a>,
}

#[derive(Debug)]
enum ResolvedWork<'a> {
    /// The time, and the index of its value.
    Timed(Ms, usize),
    Counted {
        reps: u32,
        /// The index of the repetitions' value.
        reps_value: usize,
        tempo: Ms,
        /// The hold, and the index of its value.
        hold: Option<(Ms, usize)>,
        count: CountMode,
    },
    Group(Vec<Resolved<'a>>),
    Wait,
}

fn resolve<'a>(step: &'a Step, values: &mut Values<'_>, tempo_factor: f64) -> Resolved<'a> {
    let rounds = values.take_count();
    let work = match &step.work {
        Work::Timed { .. } => {
            let at = values.position();
            ResolvedWork::Timed(values.take(), at)
        }
        Work::Counted {
            tempo, hold, count, ..
        } => {
            let reps_value = values.position();
            let reps = values.take_count();
            let hold = hold.map(|_| {
                let at = values.position();
                (values.take(), at)
            });
            ResolvedWork::Counted {
                reps,
                reps_value,
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
        Work::Wait => ResolvedWork::Wait,
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
    let all = values;
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
        moving: 0,
        step: None,
        warnings: Vec::new(),
        stretches: Vec::new(),
        place: Vec::new(),
    };

    b.speak(CueKind::Title, &wording::sentence(&routine.name));
    for caution in &routine.cautions {
        b.speak(CueKind::Caution, &wording::sentence(caution));
    }
    if let (Some(course), Some(n)) = (routine.course, options.session_number) {
        // past the course's last session, it is said to be complete, never
        // "Session 16 of 16"
        if n <= course.high {
            b.speak(CueKind::Course, &wording::course(n, course.high));
        } else {
            b.speak(CueKind::Course, wording::COURSE_COMPLETE);
        }
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
        stretches: b.stretches,
        warnings: b.warnings,
        notes: Vec::new(),
        values: all.to_vec(),
    }
}

fn spoken_name(step: &Step) -> &str {
    step.say.as_deref().unwrap_or(&step.name)
}

struct Builder<'a> {
    lengths: &'a dyn ClipLengths,
    options: &'a Options,
    cues: Vec<Cue>,
    /// Where the next sequential cue goes: past the last one and a calm gap.
    t: Ms,
    /// The transition time owed before work starts: the longest of the
    /// changes announced since work last ran (a side switch announced with
    /// a part's name takes the longer of the two, not both).
    moving: Ms,
    step: Option<usize>,
    warnings: Vec<String>,
    stretches: Vec<PlannedStretch>,
    /// Where in the step the work is: the part, round, side and position,
    /// outermost first, for the stretches' labels.
    place: Vec<String>,
}

impl Builder<'_> {
    /// A stretch of the current step starts at `at`, where `place` says
    /// (with `extra`, a held repetition, innermost).
    fn stretch(&mut self, at: Ms, extra: Option<String>) {
        let Some(step) = self.step else {
            return;
        };
        let mut words = self.place.clone();
        words.extend(extra);
        self.stretches.push(PlannedStretch {
            step,
            start_ms: at,
            label: words.join(", "),
            work: None,
        });
    }

    /// Work goes on where `place` now says: a new stretch from `at` when
    /// `new`, else the first one inside a stretch already open (a step's
    /// first side, a part's first place), which takes its fuller name.
    fn enter(&mut self, at: Ms, new: bool) {
        if new {
            self.stretch(at, None);
        } else if let Some(last) = self.stretches.last_mut() {
            last.label = self.place.join(", ");
        }
    }

    /// The stretch just entered does its work with value `value`.
    fn mark_work(&mut self, value: usize, kind: WorkKind) {
        if self.step.is_some()
            && let Some(last) = self.stretches.last_mut()
        {
            last.work = Some(StretchWork { value, kind });
        }
    }

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

    /// A change was just announced: the hands get `ms` to move before work
    /// starts.
    fn transition(&mut self, ms: Ms) {
        self.moving = self.moving.max(ms);
    }

    /// Where work starts: after the last announcement and the transition
    /// time owed (never sooner than the calm gap already counted in `t`).
    fn begin(&mut self) -> Ms {
        let start = self.t + self.moving.saturating_sub(GAP);
        self.moving = 0;
        start
    }

    fn warn(&mut self, step: &Step, what: String) {
        let line = format!("step \"{}\" (line {}): {what}", step.name, step.line);
        if !self.warnings.contains(&line) {
            self.warnings.push(line);
        }
    }

    /// A step of the routine: its announcement, the time to change to it,
    /// then its work; or, for a waiting step, the wait.
    fn top_step(&mut self, r: &Resolved, next: Option<&str>) {
        self.place.clear();
        self.stretch(self.t, None);
        self.announce(CueKind::Announce, r);
        if let ResolvedWork::Wait = r.work {
            // the reminder is said once now, then every minute while waiting
            self.speak(CueKind::Wait, wording::WAITING);
            return;
        }
        self.transition(r.step.transitions.change);
        self.body(r, next);
    }

    /// The name (or `say`), how much for the whole step and how long each
    /// hold lasts, and at `full` the tip.
    fn announce(&mut self, kind: CueKind, r: &Resolved) {
        self.speak(kind, &wording::sentence(spoken_name(r.step)));
        if self.options.detail != Detail::Brief {
            let step = r.step;
            let places = step.positions.len();
            let sides = &step.sides;
            match r.work {
                ResolvedWork::Timed(time, _) => self.speak(
                    kind,
                    &wording::amount_of_time(time, places, sides, r.rounds),
                ),
                ResolvedWork::Counted { reps, hold, .. } => {
                    if !(reps == 1 && hold.is_some() && places == 1 && sides.is_empty()) {
                        self.speak(
                            kind,
                            &wording::amount_of_reps(reps, places, sides, r.rounds),
                        );
                    }
                    if let Some((hold, _)) = hold {
                        self.speak(kind, &wording::hold_each(hold, reps));
                    }
                }
                ResolvedWork::Group(_) => {
                    if let Some(text) = wording::amount_of_group(sides, r.rounds) {
                        self.speak(kind, &text);
                    }
                }
                ResolvedWork::Wait => {}
            }
        }
        if self.options.detail == Detail::Full
            && let Some(tip) = &r.step.tip
        {
            self.speak(CueKind::Tip, &wording::sentence(tip));
        }
    }

    /// Rounds, then sides, then positions, each change announced with its
    /// transition time, around the work itself. `next` is the following
    /// step, previewed in the last stretch of this one.
    fn body(&mut self, r: &Resolved, next: Option<&str>) {
        let step = r.step;
        let sides: Vec<Option<&str>> = if step.sides.is_empty() {
            vec![None]
        } else {
            step.sides.iter().map(|s| Some(s.as_str())).collect()
        };
        let positions = step.positions.len().max(1);
        let chunks = r.rounds as usize * sides.len() * positions as usize;
        let moves = &step.transitions;
        let mut chunk = 0;
        let depth = self.place.len();
        for round in 1..=r.rounds {
            let chunk_at = self.t;
            if r.rounds > 1 {
                self.speak(CueKind::Round, &wording::round(round, r.rounds));
                if round > 1 {
                    self.transition(moves.change);
                }
            }
            for (s, side) in sides.iter().enumerate() {
                let side_at = if s == 0 { chunk_at } else { self.t };
                if let Some(side) = side {
                    if s == 0 {
                        self.speak(CueKind::Side, &wording::first_side(side));
                    } else {
                        self.speak(CueKind::Side, &wording::switch_side(side));
                        self.transition(moves.switch);
                    }
                }
                let again = s > 0 || round > 1;
                if again && positions > 1 && step.positions.label(0).is_none() {
                    let text = step.restart.as_deref().unwrap_or(wording::RESTART);
                    self.speak(CueKind::Move, &wording::sentence(text));
                }
                for p in 0..positions {
                    let at = if p == 0 { side_at } else { self.t };
                    self.place.truncate(depth);
                    if r.rounds > 1 {
                        self.place.push(
                            wording::round(round, r.rounds)
                                .trim_end_matches('.')
                                .to_lowercase(),
                        );
                    }
                    if let Some(side) = side {
                        self.place.push(wording::side_name(side));
                    }
                    if let Some(label) = step.positions.label(p) {
                        self.place.push(label.to_string());
                    } else if positions > 1 {
                        self.place.push(format!("place {} of {positions}", p + 1));
                    }
                    // a step's first stretch starts at the step; a part's
                    // at the part's announcement (marked by `work`)
                    self.enter(at, chunk > 0);
                    if p > 0 {
                        match (&step.move_text, step.positions.label(p)) {
                            (Some(text), _) => self.speak(CueKind::Move, &wording::sentence(text)),
                            (None, None) => self.speak(CueKind::Move, wording::MOVE_ON),
                            (None, Some(_)) => {}
                        }
                        self.transition(moves.move_time);
                    }
                    if let Some(label) = step.positions.label(p) {
                        self.speak(CueKind::Move, &wording::sentence(label));
                    }
                    chunk += 1;
                    let stretch = Stretch {
                        next: if chunk == chunks { next } else { None },
                        last: chunk == chunks,
                    };
                    self.work(r, &stretch);
                }
            }
        }
        self.place.truncate(depth);
    }

    fn work(&mut self, r: &Resolved, stretch: &Stretch) {
        match &r.work {
            ResolvedWork::Timed(time, value) => {
                self.mark_work(*value, WorkKind::Timed);
                self.timed(*time, stretch);
            }
            ResolvedWork::Counted {
                reps,
                reps_value,
                tempo,
                hold: None,
                count,
            } => {
                self.mark_work(*reps_value, WorkKind::Reps { tempo: *tempo });
                self.counted(r.step, *reps, *tempo, *count);
            }
            ResolvedWork::Counted {
                reps,
                hold: Some((hold, value)),
                count,
                ..
            } => self.held(r.step, *reps, *hold, *value, *count),
            ResolvedWork::Group(parts) => {
                for (i, part) in parts.iter().enumerate() {
                    self.place.push(part.step.name.clone());
                    self.enter(self.t, i > 0);
                    self.announce(CueKind::Part, part);
                    self.transition(part.step.transitions.change);
                    let next = if stretch.last && i + 1 == parts.len() {
                        stretch.next
                    } else {
                        None
                    };
                    self.body(part, next);
                    self.place.pop();
                }
            }
            // a part never waits (the parser refuses it)
            ResolvedWork::Wait => {}
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
        let start = self.begin();
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
                    "the count \"{text}\" takes {ms} ms to say, but a {tempo} ms tempo leaves \
                     {room} ms for it after the {MIN_SILENCE} ms of silence between counts; \
                     soft ticks are used instead"
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

    /// Repetitions of press, hold, release, with `rest` after each (and the
    /// step's `between` said in it). A long hold gets guidance inside it.
    fn held(&mut self, step: &Step, reps: u32, hold: Ms, value: usize, mode: CountMode) {
        let hold_word = wording::sentence(step.hold_say.as_deref().unwrap_or(wording::PRESS));
        let release_word =
            wording::sentence(step.release_say.as_deref().unwrap_or(wording::RELEASE));
        let mut at = self.begin();
        for n in 1..=reps {
            let rep = Some(Rep { n, of: reps });
            if n > 1 {
                self.stretch(at, Some(format!("{n} of {reps}")));
            }
            self.mark_work(value, WorkKind::Hold);
            let mut press_at = at;
            if let Some(text) = Self::count_text(mode, n, reps) {
                let cue = self.cue(at, CueKind::Count, &text, rep);
                press_at = cue.end_ms() + MIN_SILENCE;
                self.cues.push(cue);
            }
            let press = self.cue(press_at, CueKind::Press, &hold_word, rep);
            let release_at = (press_at + hold).max(press.end_ms() + MIN_SILENCE);
            if release_at > press_at + hold {
                self.warn(
                    step,
                    format!(
                        "the {hold} ms hold is shorter than saying \"{hold_word}\"; it is lengthened"
                    ),
                );
            }
            let mut placed = vec![press];
            let inside = shifted(
                guidance(HOLD, release_at - press_at, &self.options.cues),
                press_at,
            );
            self.place(&mut placed, inside, press_at, release_at, rep);
            placed.sort_by_key(|cue| cue.at_ms);
            self.cues.extend(placed);
            let release = self.cue(release_at, CueKind::Release, &release_word, rep);
            let end = release.end_ms();
            self.cues.push(release);
            at = end + if n < reps { step.rest.max(GAP) } else { GAP };
            if let (Some(text), true) = (&step.between, n < reps) {
                // it belongs to the repetition it follows
                let cue = self.cue(
                    end + MIN_SILENCE,
                    CueKind::Move,
                    &wording::sentence(text),
                    rep,
                );
                at = at.max(cue.end_ms() + GAP);
                self.cues.push(cue);
            }
        }
        self.t = at;
    }

    /// A stretch of timed work: "Begin." at its start, then the guidance
    /// of [`TIMED`], and in the step's last stretch the next step's preview
    /// after the last time-left cue. Cues that would collide are left out,
    /// the most useful kept.
    fn timed(&mut self, time: Ms, stretch: &Stretch) {
        let start = self.begin();
        let end = start + time;
        let begin = self.cue(start, CueKind::Begin, wording::BEGIN, None);
        let mut placed: Vec<Cue> = vec![begin];
        let wanted = shifted(guidance(TIMED, time, &self.options.cues), start);
        let last_left = wanted
            .iter()
            .filter(|w| w.kind == CueKind::Remaining)
            .map(|w| w.at)
            .max();
        for w in wanted {
            let said = self.place(&mut placed, vec![w.clone()], start, end, None);
            if let (Some(end_of_cue), Some(next), true) = (
                said,
                stretch.next,
                Some(w.at) == last_left && w.kind == CueKind::Remaining,
            ) {
                let preview = Wanted {
                    at: end_of_cue + MIN_SILENCE,
                    kind: CueKind::Next,
                    text: wording::next(next),
                };
                self.place(&mut placed, vec![preview], start, end, None);
            }
        }
        placed.sort_by_key(|cue| cue.at_ms);
        self.cues.extend(placed);
        self.t = end;
    }

    /// Places each wanted cue that fits inside `[start, end)` without
    /// touching a cue already placed; returns where the last placed one ends.
    /// Inside a hold, the cues belong to its repetition `rep`.
    fn place(
        &self,
        placed: &mut Vec<Cue>,
        wanted: Vec<Wanted>,
        start: Ms,
        end: Ms,
        rep: Option<Rep>,
    ) -> Option<Ms> {
        let mut last_end = None;
        for w in wanted {
            let cue = self.cue(w.at, w.kind, &w.text, rep);
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

/// `wanted`, moved from a stretch's own time to the session's.
fn shifted(wanted: Vec<Wanted>, start: Ms) -> Vec<Wanted> {
    wanted
        .into_iter()
        .map(|w| Wanted {
            at: start + w.at,
            ..w
        })
        .collect()
}

/// Where a stretch of work sits in its step.
struct Stretch<'a> {
    /// The step's last stretch.
    last: bool,
    /// The following step, previewed in this stretch.
    next: Option<&'a str>,
}
