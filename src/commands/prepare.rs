//! `prepare ROUTINE`, and the same work before `start`: the phrases of a
//! routine that the voice pack lacks are rendered by the natural voice and
//! cached, with a progress bar, so that a session speaks them in the pack's
//! voice.

use std::io::{self, IsTerminal, Write};
use std::time::{Duration, Instant};

use super::routines::{routine, routine_phrases};
use super::{CommandError, client_paths, note, warn};
use crate::config::Config;
use crate::routine::Routine;
use crate::speech::Estimate;
use crate::voice::{Voice, VoiceSettings};

/// Every phrase a session of `routine` can say, at any level and detail.
pub(super) fn phrases_of(routine: &Routine) -> Vec<String> {
    routine_phrases(routine, &Estimate).into_iter().collect()
}

/// The voice a client command would speak with; `None` when the paths or
/// the configuration cannot be had (the command reports those itself).
pub(super) fn client_voice() -> Option<Voice> {
    let paths = client_paths().ok()?;
    let config = Config::load(&paths.config_file).ok()?;
    Some(Voice::new(VoiceSettings::from_config(
        &config.voice,
        &paths,
    )))
}

/// How many of a routine's phrases are new to the voice, and what to do
/// about them, in a line (`name` is how the user names the routine);
/// `None` when there are none.
pub(super) fn new_phrases_line(routine: &Routine, voice: &Voice, name: &str) -> Option<String> {
    let phrases = phrases_of(routine);
    if voice.natural().is_some() {
        match voice.unprepared(&phrases).len() {
            0 => None,
            n => Some(format!(
                "{n} phrases are new to the natural voice; `massage-cue prepare {name}` renders them ahead (or `start` does, up to [voice] prepare_wait)"
            )),
        }
    } else {
        match voice.unprepared_by_pack(&phrases) {
            0 => None,
            n => Some(format!(
                "{n} phrases are not in the voice pack; the fallback command speaks them (natural voice: {})",
                voice.natural_missing().unwrap_or("not set up")
            )),
        }
    }
}

/// `prepare ROUTINE`.
pub(super) fn prepare(name: &str) -> Result<(), CommandError> {
    let paths = client_paths()?;
    let config = Config::load(&paths.config_file)?;
    let routine = routine(name, &paths)?;
    let voice = Voice::new(VoiceSettings::from_config(&config.voice, &paths));
    let phrases = phrases_of(&routine);
    if voice.natural().is_none() {
        return Err(CommandError::Voice(format!(
            "is not available: {}. The fallback command speaks {}'s {} phrases that are not in the voice pack",
            voice.natural_missing().unwrap_or("not set up"),
            routine.name,
            voice.unprepared_by_pack(&phrases)
        )));
    }
    let todo = voice.unprepared(&phrases);
    let mut out = io::stdout().lock();
    if todo.is_empty() {
        writeln!(
            out,
            "{}: every phrase is ready in the natural voice ({} phrases)",
            routine.name,
            phrases.len()
        )?;
        return Ok(());
    }
    let started = Instant::now();
    let report = render(&voice, &phrases, None, &format!("{}: ", routine.name))?;
    for (phrase, why) in &report.failed {
        warn(&format!(
            "the natural voice could not say {phrase:?}: {why}"
        ));
    }
    writeln!(
        out,
        "{}: {} new phrases rendered in the natural voice in {:.0} s{}",
        routine.name,
        report.rendered,
        started.elapsed().as_secs_f64(),
        if report.failed.is_empty() {
            String::new()
        } else {
            format!(
                " ({} could not be; the fallback command says them)",
                report.failed.len()
            )
        }
    )?;
    Ok(())
}

/// Before `start`: renders the routine's new phrases in the natural voice
/// for at most `[voice] prepare_wait`, with progress on standard error,
/// and says which phrases the fallback voice speaks this session.
pub(super) fn before_start(routine: &Routine, config: &Config, voice: &Voice) {
    if voice.natural().is_none() {
        return;
    }
    let phrases = phrases_of(routine);
    let todo = voice.unprepared(&phrases).len();
    if todo == 0 {
        return;
    }
    let wait = Duration::from_millis(config.voice.prepare_wait);
    note(&format!(
        "{todo} phrases of {} are new to the natural voice; rendering them (up to {} s)",
        routine.name,
        wait.as_secs()
    ));
    match render(voice, &phrases, Some(Instant::now() + wait), "") {
        Ok(report) => {
            let fallback = report.left.len() + report.failed.len();
            if fallback > 0 {
                note(&format!(
                    "{fallback} of them are not ready: the fallback voice says them this session; `massage-cue prepare {}` renders them for next time",
                    routine.name
                ));
            }
        }
        Err(why) => warn(&format!(
            "the natural voice {why}; the fallback voice says the new phrases"
        )),
    }
}

/// Renders with a progress bar on standard error (a line every tenth of
/// the way when it is not a terminal).
fn render(
    voice: &Voice,
    phrases: &[String],
    deadline: Option<Instant>,
    label: &str,
) -> Result<crate::voice::BatchReport, CommandError> {
    let terminal = io::stderr().is_terminal();
    let started = Instant::now();
    let mut last_line = 0;
    let mut progress = |done: usize, total: usize| {
        let mut err = io::stderr().lock();
        if terminal {
            let width = 30;
            let filled = done * width / total.max(1);
            let _ = write!(
                err,
                "\r{label}[{}{}] {done}/{total} phrases, {:.0} s",
                "#".repeat(filled),
                "-".repeat(width - filled),
                started.elapsed().as_secs_f64()
            );
            if done == total {
                let _ = writeln!(err);
            }
        } else if done * 10 / total.max(1) > last_line || done == total {
            last_line = done * 10 / total.max(1);
            let _ = writeln!(err, "{label}rendered {done} of {total} phrases");
        }
    };
    let mut err = io::stderr().lock();
    let total = voice.unprepared(phrases).len();
    if terminal {
        let _ = write!(
            err,
            "\r{label}[{}] 0/{total} phrases (the voice loads)",
            "-".repeat(30)
        );
    } else {
        let _ = writeln!(err, "{label}rendering {total} phrases in the natural voice");
    }
    drop(err);
    let report = voice
        .prepare_natural(phrases, deadline, &mut progress)
        .map_err(CommandError::Voice)?;
    if terminal && report.rendered + report.failed.len() < total {
        // the bar stopped short of its end
        let _ = writeln!(io::stderr());
    }
    Ok(report)
}
