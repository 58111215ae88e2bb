//! The commands that work on routines without the daemon: `list`, `show`,
//! `plan` and the voice pack's phrase list.

use std::collections::BTreeSet;
use std::io::{self, Write};

use super::{CommandError, client_paths, note, start_options, warn};
use crate::cli::{PlanArgs, SessionArgs};
use crate::client::{Client, ClientError};
use crate::config::Config;
use crate::display;
use crate::lookup::{Origin, all_routine_files, find_routine};
use crate::paths::Paths;
use crate::plan::{self, Detail, Level, Options, Plan, wording};
use crate::protocol::{ErrorKind, Request};
use crate::routine::{Routine, load_routine};
use crate::speech::ClipLengths;
use crate::voice::{Voice, VoiceSettings};

/// A routine named on the command line, found and read.
pub(super) fn routine(name: &str, paths: &Paths) -> Result<Routine, CommandError> {
    let path = find_routine(name, paths)?;
    Ok(load_routine(&path)?)
}

/// The planning options: the configuration's, then the command line's.
pub(super) fn options(config: &Config, args: &SessionArgs) -> Result<Options, CommandError> {
    Ok(crate::daemon::session_options(
        &start_options(args)?,
        config.options(),
    ))
}

/// Plans with the real lengths of the voice's clips.
pub(super) fn plan_with_voice(
    routine: &Routine,
    options: &Options,
    voice: &Voice,
) -> Result<Plan, CommandError> {
    Ok(plan::plan(routine, options, voice)?)
}

/// What a session of the routine named on the command line is made of:
/// the routine, the options (configuration, then flags) and the voice.
fn session_parts(
    name: &str,
    args: &SessionArgs,
) -> Result<(Routine, Options, Voice), CommandError> {
    let paths = client_paths()?;
    let config = Config::load(&paths.config_file)?;
    let routine = routine(name, &paths)?;
    let options = options(&config, args)?;
    let voice = Voice::new(VoiceSettings::from_config(&config.voice, &paths));
    Ok((routine, options, voice))
}

/// `list`: every routine that can be started, with where it comes from; a
/// bundled routine that a user routine of the same name hides is listed
/// too, marked so.
pub(super) fn list() -> Result<(), CommandError> {
    let paths = client_paths()?;
    let files = all_routine_files(&paths);
    let mut out = io::stdout().lock();
    if files.is_empty() {
        writeln!(
            out,
            "No routines found. Put routine files in {}",
            paths.user_routines.display()
        )?;
        return Ok(());
    }
    let width = files.iter().map(|f| f.name.len()).max().unwrap_or(0);
    for file in files {
        let origin = if file.shadowed {
            format!(
                "{}, hidden by your routine `{}`; start it by its path {}",
                file.origin,
                file.name,
                file.path.display()
            )
        } else {
            file.origin.to_string()
        };
        match load_routine(&file.path) {
            Ok(r) => {
                let length = r
                    .length
                    .map(|l| format!(" ({}-{})", plan::HumanMs(l.low), plan::HumanMs(l.high)))
                    .unwrap_or_default();
                let about = r.description.as_deref().unwrap_or(&r.name);
                writeln!(out, "{:width$}  {}{length}  [{origin}]", file.name, about)?;
            }
            Err(err) => writeln!(
                out,
                "{:width$}  (cannot be read: {})",
                file.name,
                first_line(&err.to_string())
            )?,
        }
    }
    Ok(())
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or(text)
}

/// `show ROUTINE`.
pub(super) fn show(name: &str) -> Result<(), CommandError> {
    let paths = client_paths()?;
    let routine = routine(name, &paths)?;
    write!(io::stdout().lock(), "{}", display::routine_text(&routine))?;
    Ok(())
}

/// `plan ROUTINE [--json]`.
pub(super) fn plan(args: &PlanArgs) -> Result<(), CommandError> {
    let (routine, options, voice) = session_parts(&args.routine, &args.session)?;
    if let Some(line) = super::prepare::new_phrases_line(&routine, &voice, &args.routine) {
        note(&line);
    }
    let plan = plan_with_voice(&routine, &options, &voice)?;
    for text in &plan.notes {
        note(text);
    }
    for warning in &plan.warnings {
        warn(warning);
    }
    let mut out = io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &plan).map_err(io::Error::from)?;
        writeln!(out)?;
    } else {
        write!(out, "{}", display::plan_table(&plan))?;
    }
    Ok(())
}

/// Every phrase a routine can make be said, at any level and detail: the
/// phrases of its plans at both ends of every range, with everything read
/// aloud. Numbers and other stock phrases come from
/// [`wording::stock_phrases`].
pub fn routine_phrases(routine: &Routine, lengths: &dyn ClipLengths) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for level in [Level::Low, Level::High] {
        for session_number in [None, Some(1)] {
            let options = Options {
                level,
                detail: Detail::Full,
                session_number,
                ..Options::default()
            };
            if let Ok(plan) = plan::plan(routine, &options, lengths) {
                // what next, prev and repeat say where they land
                for step in &plan.steps {
                    let places: Vec<&str> = plan
                        .stretches
                        .iter()
                        .filter(|s| s.step == step.index && !s.label.is_empty())
                        .map(|s| s.label.as_str())
                        .collect();
                    out.extend(wording::move_phrases(&step.name, &places));
                }
                out.extend(
                    plan.cues
                        .into_iter()
                        .filter(|c| c.sound.is_none())
                        .map(|c| c.text),
                );
            }
        }
    }
    // what resume says: "Resuming: Deep stroking." and its composable parts
    for step in &routine.steps {
        out.insert(wording::resuming(&step.name, None, None));
    }
    out
}

/// `phrases`: the stock phrases, the words the player joins phrases from
/// and every phrase of the bundled routines, one a line: what the voice
/// pack holds.
pub(super) fn phrases() -> Result<(), CommandError> {
    let paths = client_paths()?;
    let mut all: BTreeSet<String> = wording::stock_phrases().into_iter().collect();
    all.extend(crate::voice::COMPOSE_WORDS.map(String::from));
    for file in all_routine_files(&paths)
        .into_iter()
        .filter(|f| f.origin == Origin::Bundled)
    {
        let routine = load_routine(&file.path)?;
        all.extend(routine_phrases(&routine, &crate::speech::Estimate));
    }
    let mut out = io::stdout().lock();
    for phrase in all {
        writeln!(out, "{phrase}")?;
    }
    Ok(())
}

/// `render ROUTINE -o FILE`: the whole session as a WAV, FLAC or Ogg file,
/// made without any audio device, with music under the cues if asked.
pub(super) fn render(args: &crate::cli::RenderArgs) -> Result<(), CommandError> {
    // a name it cannot write, or music it cannot play, is said before the
    // session is planned and its phrases made
    let format = crate::audio::Format::of(&args.output)?;
    let music = match &args.music {
        None => None,
        Some(path) => {
            let paths = client_paths()?;
            let config = Config::load(&paths.config_file)?;
            Some(crate::audio::RenderMusic {
                playlist: crate::audio::Playlist::find(path)?,
                volume: config.music.volume,
                seed: crate::audio::music::fresh_seed(),
            })
        }
    };
    let (routine, options, voice) = session_parts(&args.routine, &args.session)?;
    // no session waits on it: new phrases may take the natural voice's time
    voice.set_natural_renders(true);
    let plan = voice.plan(&routine, &options)?;
    for text in &plan.notes {
        note(text);
    }
    for warning in &plan.warnings {
        warn(warning);
    }
    let summary = crate::audio::render_to_file(
        &plan,
        |cue| voice.cue_clip(cue),
        &args.output,
        format,
        music.as_ref(),
    )?;
    writeln!(
        io::stdout().lock(),
        "{}: {} ({} cues{}, {} Hz mono {})",
        args.output.display(),
        plan::HumanMs(summary.duration_ms()),
        summary.clips,
        if music.is_some() { " over music" } else { "" },
        summary.rate,
        format.name()
    )?;
    Ok(())
}

/// `say TEXT`: one phrase. While a session is under way the daemon says
/// it, in the session's timeline (never over a count); otherwise it plays
/// here, through the default output.
pub(super) fn say(text: &str) -> Result<(), CommandError> {
    // line breaks and tabs are spaces when said
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if let Some(why) = crate::protocol::say_text_problem(&text) {
        return Err(CommandError::Usage(format!("say: {why}")));
    }
    let paths = client_paths()?;
    let config = Config::load(&paths.config_file)?;
    let voice = Voice::new(VoiceSettings::from_config(&config.voice, &paths));
    voice.set_natural_renders(true);
    // rendered here first: the daemon then finds it in the speech cache
    let clip = voice.clip(&text);
    if said_by_daemon(&text)? {
        return Ok(());
    }
    Ok(crate::audio::say(&clip)?)
}

/// Asks a running daemon to say `text` in its session's timeline; false
/// when no daemon runs or no session is under way there.
fn said_by_daemon(text: &str) -> Result<bool, CommandError> {
    let Ok((paths, _)) = super::socket_paths() else {
        return Ok(false);
    };
    let Some(mut client) = Client::connect_if_running(&paths.socket)? else {
        return Ok(false);
    };
    match client.call(&Request::Say {
        text: text.to_owned(),
    }) {
        Ok(_) => Ok(true),
        Err(ClientError::Refused {
            kind: ErrorKind::NotNow,
            ..
        }) => Ok(false),
        Err(err) => Err(err.into()),
    }
}

/// `schema`: the JSON Schema of routine files, as `docs/routine.schema.json`
/// holds it.
pub(super) fn schema() -> Result<(), CommandError> {
    let mut out = io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, &crate::routine::schema::routine_schema())
        .map_err(io::Error::from)?;
    writeln!(out)?;
    Ok(())
}
