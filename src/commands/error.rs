//! Why a command failed, and the exit status that follows from it, decided
//! in one place ([`CommandError::code`]).

use std::io;
use std::path::PathBuf;

use thiserror::Error;

use crate::audio::AudioError;
use crate::client::ClientError;
use crate::config::ConfigError;
use crate::daemon::DaemonError;
use crate::lookup::LookupError;
use crate::paths::PathsError;
use crate::plan::PlanError;
use crate::protocol::ErrorKind;
use crate::routine::RoutineError;

/// Why a command failed: the library's own errors, kept whole up to `main`.
#[derive(Debug, Error)]
pub enum CommandError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Paths(#[from] PathsError),
    #[error(transparent)]
    Lookup(#[from] LookupError),
    #[error(transparent)]
    Routine(#[from] RoutineError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Daemon(#[from] DaemonError),
    #[error(transparent)]
    Audio(#[from] AudioError),
    #[error(transparent)]
    Music(#[from] crate::audio::MusicError),
    /// A flag or argument the command cannot use.
    #[error("{0}")]
    Usage(String),
    /// `check` found routine files with errors (it printed them).
    #[error("{failed} of {files} routine files {} errors", if *failed == 1 { "has" } else { "have" })]
    Check { failed: usize, files: usize },
    #[error("cannot read {}: {source}", path.display())]
    History { path: PathBuf, source: io::Error },
    #[error("cannot tell where this program is: {0}")]
    Executable(io::Error),
    #[error("{} is not a UTF-8 path, which a unit file cannot name", .0.display())]
    UnitPath(PathBuf),
    #[error(
        "the path of this program, {0:?}, holds a line break or another control character, which a unit file cannot name safely; move the program to a folder with a plain name and run `service install` again"
    )]
    UnitPathControl(PathBuf),
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    /// `doctor` found things a session needs missing (it printed them).
    #[error("{count} {} missing; each has its fix above", if *count == 1 { "thing is" } else { "things are" })]
    Missing { count: usize },
    /// The natural voice is not there, or could not render.
    #[error("the natural voice {0}")]
    Voice(String),
    /// Standard output could not be written; a reader that closed it early
    /// (`| head`) is no failure.
    #[error("cannot write to standard output: {0}")]
    Output(#[from] io::Error),
}

impl CommandError {
    /// The exit status: 2 for bad input (a bad routine, configuration,
    /// flag or name), 1 for a failure at run time, and 0 when only the
    /// reader of the output went away, which is not worth a message.
    pub fn code(&self) -> u8 {
        match self {
            CommandError::Output(err) if err.kind() == io::ErrorKind::BrokenPipe => 0,
            CommandError::Config(_)
            | CommandError::Lookup(_)
            | CommandError::Routine(_)
            | CommandError::Plan(_)
            | CommandError::Usage(_)
            | CommandError::Music(_)
            | CommandError::Audio(AudioError::Format { .. })
            | CommandError::Check { .. }
            | CommandError::Daemon(DaemonError::Config(_))
            | CommandError::Client(ClientError::Refused {
                kind: ErrorKind::BadInput,
                ..
            }) => 2,
            CommandError::Paths(_)
            | CommandError::Client(_)
            | CommandError::Daemon(_)
            | CommandError::Audio(_)
            | CommandError::History { .. }
            | CommandError::Executable(_)
            | CommandError::UnitPath(_)
            | CommandError::UnitPathControl(_)
            | CommandError::Write { .. }
            | CommandError::Read { .. }
            | CommandError::Missing { .. }
            | CommandError::Voice(_)
            | CommandError::Output(_) => 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn bad_input_is_2_failures_are_1_and_a_closed_pipe_is_0() {
        let bad_config = crate::config::Config::parse("x = 1", Path::new("c.toml")).unwrap_err();
        let refused = |kind| {
            CommandError::Client(ClientError::Refused {
                kind,
                message: String::new(),
            })
        };
        let io = |kind| io::Error::from(kind);
        let cases = [
            (CommandError::Config(bad_config), 2),
            (CommandError::Usage("--tempo".into()), 2),
            (
                CommandError::Check {
                    failed: 1,
                    files: 2,
                },
                2,
            ),
            (refused(ErrorKind::BadInput), 2),
            (refused(ErrorKind::NotNow), 1),
            (CommandError::Client(ClientError::Closed), 1),
            (CommandError::Executable(io(io::ErrorKind::NotFound)), 1),
            (CommandError::Output(io(io::ErrorKind::StorageFull)), 1),
            (CommandError::Output(io(io::ErrorKind::BrokenPipe)), 0),
        ];
        for (err, code) in cases {
            assert_eq!(err.code(), code, "{err:?}");
        }
        assert_eq!(
            CommandError::Check {
                failed: 1,
                files: 3
            }
            .to_string(),
            "1 of 3 routine files has errors"
        );
    }
}
