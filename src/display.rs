//! Readable renderings for the terminal: a plan as a table of steps and a
//! timeline of what is said, a routine as its steps and tips.

use std::fmt::Write as _;

use crate::ms::Ms;
use crate::plan::{Cue, CueKind, HumanMs, Plan};
use crate::routine::{CountMode, Positions, Routine, Span, Step, Work};

/// `m:ss` (or `h:mm:ss`) of a plan offset.
pub fn clock(ms: Ms) -> String {
    let secs = ms / 1000;
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

fn clock_tenths(ms: Ms) -> String {
    format!("{}.{}", clock(ms), ms % 1000 / 100)
}

/// The plan as a table of steps, then every cue in time order; runs of
/// repetitions are folded into one line each.
pub fn plan_table(plan: &Plan) -> String {
    let mut out = String::new();
    let steps = match plan.steps.len() {
        1 => "1 step".to_string(),
        n => format!("{n} steps"),
    };
    let _ = writeln!(
        out,
        "{} — {} in {steps}",
        plan.routine,
        HumanMs(plan.total_ms)
    );
    let _ = writeln!(out);
    let width = plan
        .steps
        .iter()
        .map(|s| s.name.chars().count())
        .max()
        .unwrap_or(4)
        .max(4);
    let _ = writeln!(out, "  #  {:width$}  start     length    reps", "step");
    for s in &plan.steps {
        let reps = s.reps.map(|r| r.to_string()).unwrap_or_default();
        let _ = writeln!(
            out,
            " {:>2}  {:width$}  {:>7}  {:>8}    {}",
            s.index + 1,
            s.name,
            clock(s.start_ms),
            clock(s.end_ms - s.start_ms),
            reps
        );
    }
    let _ = writeln!(out, "      {:width$}  {:>7}", "end", clock(plan.total_ms));
    let _ = writeln!(out);
    let _ = writeln!(out, "What is said:");
    let mut step = None;
    let mut i = 0;
    while i < plan.cues.len() {
        let cue = &plan.cues[i];
        if cue.step != step {
            step = cue.step;
            match step.and_then(|s| plan.steps.get(s)) {
                Some(s) => {
                    let _ = writeln!(
                        out,
                        "\n  Step {} of {}: {}",
                        s.index + 1,
                        plan.steps.len(),
                        s.name
                    );
                }
                None if i > 0 => {
                    let _ = writeln!(out);
                }
                None => {}
            }
        }
        let run = rep_run(&plan.cues[i..]);
        if run > 1 {
            let _ = writeln!(
                out,
                "  {:>9}  {}",
                clock_tenths(cue.at_ms),
                fold(&plan.cues[i..i + run])
            );
            i += run;
        } else {
            let _ = writeln!(out, "  {:>9}  {}", clock_tenths(cue.at_ms), cue.text);
            i += 1;
        }
    }
    out
}

/// How many cues from the start of `cues` are one stretch of repetitions
/// (a new stretch begins when the count starts again, at a new side or
/// position).
fn rep_run(cues: &[Cue]) -> usize {
    let Some((first, rep)) = cues.first().and_then(|c| c.rep.map(|r| (c, r))) else {
        return 0;
    };
    let mut last = rep.n;
    let mut len = 1;
    for cue in &cues[1..] {
        match cue.rep {
            Some(r) if cue.step == first.step && r.of == rep.of && r.n >= last => {
                last = r.n;
                len += 1;
            }
            _ => break,
        }
    }
    len
}

fn fold(run: &[Cue]) -> String {
    let reps = run.last().and_then(|c| c.rep).map_or(0, |r| r.of);
    let spoken: Vec<&str> = run
        .iter()
        .filter(|c| matches!(c.kind, CueKind::Count | CueKind::Last))
        .map(|c| c.text.trim_end_matches('.'))
        .collect();
    let ticks = run.iter().filter(|c| c.kind == CueKind::Tick).count();
    let press = run.iter().find(|c| c.kind == CueKind::Press);
    let release = run.iter().find(|c| c.kind == CueKind::Release);
    let mut parts = Vec::new();
    if !spoken.is_empty() {
        let list = if spoken.len() > 6 {
            format!(
                "{}, {}, {} … {}",
                spoken[0],
                spoken[1],
                spoken[2],
                spoken[spoken.len() - 1]
            )
        } else {
            spoken.join(", ")
        };
        parts.push(format!("counts {list}"));
    }
    if ticks > 0 {
        parts.push(format!("{ticks} soft ticks"));
    }
    if let (Some(press), Some(release)) = (press, release) {
        let each = if reps == 1 { "" } else { " each time" };
        parts.push(format!("\"{}\" … \"{}\"{each}", press.text, release.text));
    }
    let mut inside: Vec<&str> = Vec::new();
    for (kind, what) in [
        (CueKind::Breathe, "breathing"),
        (CueKind::Halfway, "halfway"),
        (CueKind::Remaining, "time left"),
        (CueKind::Countdown, "3-2-1"),
    ] {
        if run.iter().any(|c| c.kind == kind) {
            inside.push(what);
        }
    }
    if !inside.is_empty() {
        parts.push(format!("in each hold: {}", inside.join(", ")));
    }
    if let Some(between) = run.iter().find(|c| c.kind == CueKind::Move) {
        parts.push(format!("\"{}\" between", between.text));
    }
    let span = run.last().map_or(0, |c| c.end_ms()) - run[0].at_ms;
    let repetitions = if reps == 1 {
        "1 repetition".to_string()
    } else {
        format!("{reps} repetitions")
    };
    format!("{repetitions} over {}: {}", HumanMs(span), parts.join("; "))
}

fn span_ms(span: Span<Ms>) -> String {
    if span.is_range() {
        format!("{}-{}", HumanMs(span.low), HumanMs(span.high))
    } else {
        HumanMs(span.low).to_string()
    }
}

fn span_count(span: Span<u32>) -> String {
    if span.is_range() {
        format!("{}-{}", span.low, span.high)
    } else {
        span.low.to_string()
    }
}

/// A routine as a person reads it: what, how long, every step and tip.
pub fn routine_text(routine: &Routine) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", routine.name);
    if let Some(d) = &routine.description {
        let _ = writeln!(out, "{d}");
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "For: {}",
        match routine.kind {
            crate::routine::Kind::Partner => "a partner (one person massages another)",
            crate::routine::Kind::SelfMassage => "yourself (self-massage)",
        }
    );
    if let Some(length) = routine.length {
        let _ = writeln!(out, "Session length: {}", span_ms(length));
    }
    if let Some(course) = routine.course {
        let _ = writeln!(out, "Course: {} sessions", span_count(course));
    }
    if let Some(path) = &routine.source {
        let _ = writeln!(out, "File: {}", path.display());
    }
    if !routine.cautions.is_empty() {
        let _ = writeln!(out, "\nCautions:");
        for c in &routine.cautions {
            let _ = writeln!(out, "  - {c}");
        }
    }
    if let Some(p) = &routine.prepare {
        let _ = writeln!(out, "\nPrepare: {p}");
    }
    let _ = writeln!(out, "\nSteps:");
    for (i, step) in routine.steps.iter().enumerate() {
        step_text(&mut out, step, &format!("{:>2}.", i + 1), "    ");
    }
    out
}

fn step_text(out: &mut String, step: &Step, label: &str, indent: &str) {
    let _ = writeln!(out, "{label} {} — {}", step.name, what(step));
    if let Some(tip) = &step.tip {
        let _ = writeln!(out, "{indent}{tip}");
    }
    if let Work::Group { parts } = &step.work {
        for (k, part) in parts.iter().enumerate() {
            step_text(
                out,
                part,
                &format!("{indent}{}.", (b'a' + k as u8) as char),
                &format!("{indent}   "),
            );
        }
    }
}

fn what(step: &Step) -> String {
    let mut parts = Vec::new();
    match &step.work {
        Work::Timed { time } => parts.push(span_ms(*time)),
        Work::Counted {
            reps,
            tempo,
            hold,
            count,
        } => {
            let once = *reps == Span::exactly(1);
            let mut s = if once {
                "once".to_string()
            } else {
                format!("{} times", span_count(*reps))
            };
            match (hold, once) {
                (Some(hold), true) => s.push_str(&format!(", held {}", span_ms(*hold))),
                (Some(hold), false) => s.push_str(&format!(", each held {}", span_ms(*hold))),
                (None, _) => s.push_str(&format!(", one every {}", HumanMs(*tempo))),
            }
            // how a single repetition is counted does not matter
            match (count, once) {
                (_, true) | (CountMode::Every, _) => {}
                (CountMode::Milestones, _) => s.push_str(", counting milestones"),
                (CountMode::None, _) => s.push_str(", ticks only"),
            }
            parts.push(s);
        }
        Work::Group { parts: p } => parts.push(format!("{} parts", p.len())),
        Work::Wait => parts.push("waits for the go signal".to_string()),
    }
    if !step.sides.is_empty() {
        parts.push(format!("sides: {}", step.sides.join(", ")));
    }
    match &step.positions {
        Positions::Count(1) => {}
        Positions::Count(n) => parts.push(format!("{n} positions")),
        Positions::Named(names) => parts.push(format!("at: {}", names.join(", "))),
    }
    if step.rounds != Span::exactly(1) {
        parts.push(format!("{} rounds", span_count(step.rounds)));
    }
    parts.join("; ")
}
