//! `massage-cue check FILE...`: validates routine files and reports every
//! error, and the planner's warnings for the files that are valid.

use std::io::{self, Write};
use std::path::PathBuf;

use super::CommandError;
use crate::plan::routine_warnings;
use crate::routine::load_routine;

/// What `check` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CheckReport {
    /// Files checked.
    pub files: usize,
    /// Files with at least one error.
    pub failed: usize,
    /// Warnings over all valid files.
    pub warnings: usize,
}

impl CheckReport {
    /// Whether every file is a valid routine (warnings allowed).
    pub fn all_valid(&self) -> bool {
        self.failed == 0
    }
}

/// Checks every file, writing `path: ok`, `path: warning: ...` or every
/// error (as `path:line:column: key: message`) to `out`.
pub fn check_files(paths: &[PathBuf], out: &mut dyn Write) -> io::Result<CheckReport> {
    let mut report = CheckReport::default();
    for path in paths {
        report.files += 1;
        match load_routine(path) {
            Ok(routine) => {
                let warnings = routine_warnings(&routine);
                for warning in &warnings {
                    writeln!(out, "{}: warning: {warning}", path.display())?;
                }
                report.warnings += warnings.len();
                writeln!(out, "{}: ok", path.display())?;
            }
            Err(err) => {
                report.failed += 1;
                writeln!(out, "{err}")?;
            }
        }
    }
    Ok(report)
}

/// `check FILE...`: every error and warning is printed; bad files exit 2.
/// For valid files, how many of their phrases are new to the voice.
pub(super) fn check(files: &[PathBuf]) -> Result<(), CommandError> {
    let report = check_files(files, &mut io::stdout().lock())?;
    let voice = super::prepare::client_voice();
    for path in files {
        if let (Ok(routine), Some(voice)) = (load_routine(path), &voice)
            && let Some(line) =
                super::prepare::new_phrases_line(&routine, voice, &path.display().to_string())
        {
            writeln!(io::stdout().lock(), "{}: {line}", path.display())?;
        }
    }
    if report.all_valid() {
        Ok(())
    } else {
        Err(CommandError::Check {
            failed: report.failed,
            files: report.files,
        })
    }
}
