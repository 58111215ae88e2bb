//! The command line, as clap types only. `main` converts these into the
//! library's own option and request types; clap never reaches the core.

use std::path::PathBuf;
use std::str::FromStr;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::plan::{Detail, Level};

/// Speaks a massage routine aloud: techniques, counts, holds, sides and time.
#[derive(Debug, Parser)]
#[command(name = "massage-cue", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// How far `next`, `prev` and `repeat` move.
#[derive(Debug, clap::Args)]
pub struct MoveArgs {
    /// Move by whole steps instead.
    #[arg(long)]
    pub step: bool,
}

/// How much `more` and `less` change.
#[derive(Debug, clap::Args)]
pub struct ChangeArgs {
    /// How much time: 1m, 30s, 2m30s (1 second to 1 hour).
    #[arg(default_value = "1m", allow_hyphen_values = true)]
    pub duration: String,
}

/// What `resume` brings back.
#[derive(Debug, clap::Args)]
pub struct ResumeArgs {
    /// Bring back the session stopped or replaced last (kept for 1 hour)
    /// and resume it; a session under way is kept in its place.
    #[arg(long)]
    pub last: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the background service that plays sessions.
    Daemon(DaemonArgs),
    /// Start a routine (starts the daemon when none runs).
    Start(StartArgs),
    /// Pause the session; sound stops at once.
    Pause,
    /// Resume a paused session from the repetition where it stopped, or
    /// carry on from a step that waits for you.
    Resume(ResumeArgs),
    /// Pause when running; resume when paused or waiting.
    Toggle,
    /// Go on to the next side, place, part, round or held repetition
    /// (the next step after a step's last); the voice says where. Past the
    /// last step, a second press within 5 seconds ends the session.
    Next(MoveArgs),
    /// Back to the start of this side, place, part, round or repetition; a
    /// second press within 3 seconds goes one further back.
    Prev(MoveArgs),
    /// Start this side, place, part, round or repetition again.
    Repeat(MoveArgs),
    /// Give the work under way more time (a minute unless told): more
    /// repetitions, longer holds or longer timed work, shared with the
    /// rest of this step's sides and places. With a booked `--length`, the
    /// steps after it are shortened to end on time.
    More(ChangeArgs),
    /// Give the work under way less time (a minute unless told); with a
    /// booked `--length`, the steps after it are lengthened to end on time.
    Less(ChangeArgs),
    /// Stop the session.
    Stop,
    /// Show where the session is.
    Status(StatusArgs),
    /// List the routines that can be started.
    List,
    /// Show a routine's steps, tips and recommended length.
    Show { routine: String },
    /// Print the timed session a routine makes.
    Plan(PlanArgs),
    /// Check routine files and report every error and warning.
    Check {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Render a routine's own phrases (step names, tips, cautions) in the
    /// natural voice ahead of a session, with a progress bar.
    Prepare { routine: String },
    /// Write a whole session to a sound file (WAV, FLAC or Ogg), without any
    /// audio device.
    Render(RenderArgs),
    /// Speak one phrase; during a session the daemon says it between cues,
    /// the session waiting while it is said.
    Say { text: String },
    /// List past sessions.
    History,
    /// Print every phrase the bundled routines can say (for the voice pack).
    #[command(hide = true)]
    Phrases,
    /// Print the JSON Schema of routine files (docs/routine.schema.json).
    #[command(hide = true)]
    Schema,
    /// Print a shell completion script (bash, zsh or fish).
    Completions {
        #[arg(value_enum)]
        shell: ShellArg,
    },
    /// Print the manual page (roff), e.g. `massage-cue man | man -l -`.
    Man,
    /// Run the daemon as a systemd user service.
    #[command(subcommand)]
    Service(ServiceCommand),
    /// Say which folders, voice, speech engine, sound output and microphone
    /// were found, what is missing, and the command that fixes each.
    Doctor,
    /// Copy the voice pack and the bundled routines from a source folder
    /// into $XDG_DATA_HOME/massage-cue (after `cargo install --path .`).
    InstallData {
        /// The massage-cue source folder (default: the current folder).
        source: Option<PathBuf>,
    },
}

/// What `service` does.
#[derive(Debug, Subcommand)]
pub enum ServiceCommand {
    /// Write the systemd user unit, running this binary, and say how to enable it.
    Install,
}

/// A shell that completion scripts are made for.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ShellArg {
    Bash,
    Zsh,
    Fish,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct DaemonArgs {
    /// Detach from the terminal and log to a file in the state folder.
    #[arg(long)]
    pub detach: bool,
    #[command(subcommand)]
    pub action: Option<DaemonAction>,
}

/// What to do with the running daemon instead of running one here.
#[derive(Debug, Subcommand, Clone, Copy, PartialEq, Eq)]
pub enum DaemonAction {
    /// Stop the running daemon (its session's position is saved).
    Stop,
    /// Stop the running daemon and start a new one, detached, with this
    /// terminal's environment (its sound server, its session bus).
    Restart,
}

/// How a session is planned; shared by `start`, `plan` and `render`.
#[derive(Debug, Args, Clone)]
pub struct SessionArgs {
    /// Which end of every range to use.
    #[arg(long, conflicts_with = "length", value_parser = named::<Level>(Level::NAMES))]
    pub level: Option<Level>,
    /// Fit the session to this length (e.g. 25m), choosing within every range.
    #[arg(long)]
    pub length: Option<String>,
    /// How much is said: brief, normal, or full (tips read aloud).
    #[arg(long, value_parser = named::<Detail>(Detail::NAMES))]
    pub detail: Option<Detail>,
    /// Speed factor on every tempo (1.25 is a quarter faster, 0.8 slower).
    #[arg(long)]
    pub tempo: Option<f64>,
}

#[derive(Debug, Args)]
pub struct StartArgs {
    /// A routine name (file stem) or a path to a routine file.
    pub routine: String,
    #[command(flatten)]
    pub session: SessionArgs,
    /// Follow the session live in this terminal.
    #[arg(long)]
    pub follow: bool,
    /// Replace a session that is running, paused or waiting (without this,
    /// starting while one is under way is refused).
    #[arg(long)]
    pub replace: bool,
    /// Play music under the cues: an Ogg, FLAC, MP3 or WAV file, or a
    /// folder of them (shuffled, looped). Overrides `[music] path`.
    #[arg(long, value_name = "PATH")]
    pub music: Option<PathBuf>,
    /// No music this session, whatever `[music] path` says.
    #[arg(long, conflicts_with = "music")]
    pub no_music: bool,
    /// Listen for spoken commands this session ("massage pause",
    /// "massage next", ...), whatever `[listen] enabled` says: recognised
    /// on this machine from the sound server's default microphone (or
    /// `[listen] source`); nothing is recorded or sent anywhere.
    #[arg(long)]
    pub listen: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print JSON; with --follow, a stream of JSON lines, each
    /// {"status": ..., "cue": ...}.
    #[arg(long)]
    pub json: bool,
    /// Follow the session live in this terminal, starting the daemon again
    /// if it dies.
    #[arg(long)]
    pub follow: bool,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    pub routine: String,
    #[command(flatten)]
    pub session: SessionArgs,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    pub routine: String,
    #[command(flatten)]
    pub session: SessionArgs,
    /// The file to write: its name's ending says the kind, .wav, .flac or
    /// .ogg.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Mix music under the cues: an Ogg, FLAC, MP3 or WAV file, or a folder
    /// of them (shuffled, looped), at `[music] volume`.
    #[arg(long, value_name = "PATH")]
    pub music: Option<PathBuf>,
}

/// A parser for a value the library reads from its lower-case name
/// (`--level high`): clap offers the names, the library's `FromStr` makes
/// the value, so the library's type is the only definition.
fn named<T>(names: [&'static str; 3]) -> impl TypedValueParser<Value = T>
where
    T: FromStr + Clone + Send + Sync + 'static,
{
    PossibleValuesParser::new(names).map(|name| {
        name.parse()
            .unwrap_or_else(|_| unreachable!("`{name}` is one of the names the type reads"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(args: &[&str]) -> Result<SessionArgs, clap::Error> {
        let line = ["massage-cue", "plan", "r"].iter().chain(args);
        match Cli::try_parse_from(line)?.command {
            Command::Plan(plan) => Ok(plan.session),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn level_and_detail_are_the_library_types() {
        let args = session(&["--level", "high", "--detail", "full"]).unwrap();
        assert_eq!(args.level, Some(Level::High));
        assert_eq!(args.detail, Some(Detail::Full));
        let err = session(&["--level", "max"]).unwrap_err().to_string();
        assert!(err.contains("[possible values: low, mid, high]"), "{err}");
    }

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
