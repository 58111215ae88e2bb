//! Carries out each command of the command line: converts the clap types
//! into the library's options and calls into the library.

use thiserror::Error;

use crate::cli::{Cli, Command};

/// Why a command failed; decides the exit code.
#[derive(Debug, Error)]
pub enum CommandError {
    /// Bad input: a bad routine, bad arguments. Exit code 2.
    #[error("{0}")]
    BadInput(String),
    /// Something failed while running. Exit code 1.
    #[error("{0}")]
    Runtime(String),
}

impl CommandError {
    /// 2 for bad input, 1 for a failure at run time.
    pub fn exit_code(&self) -> u8 {
        match self {
            CommandError::BadInput(_) => 2,
            CommandError::Runtime(_) => 1,
        }
    }
}

/// Runs one command line.
pub fn run(cli: Cli) -> Result<(), CommandError> {
    match cli.command {
        Command::Check { files } => check(&files),
        other => Err(CommandError::Runtime(format!(
            "{other:?} is not available in this build"
        ))),
    }
}

/// `check FILE...`: every error and warning is printed; bad files exit 2.
fn check(files: &[std::path::PathBuf]) -> Result<(), CommandError> {
    let report = crate::routine::check_files(files);
    if report.all_valid() {
        Ok(())
    } else {
        Err(CommandError::BadInput(format!(
            "{} of {} routine files {} errors",
            report.failed,
            report.files,
            if report.failed == 1 { "has" } else { "have" }
        )))
    }
}
