//! `completions SHELL` and `man`: made from the command line's own clap
//! definitions, so they never fall behind a new flag or subcommand.

use std::io::Write;

use clap::CommandFactory;
use clap_complete::Shell;

use super::CommandError;
use crate::cli::{Cli, ShellArg};

/// The name the scripts complete and the manual page is about.
const BIN: &str = "massage-cue";

/// `completions bash|zsh|fish`: the completion script on standard output.
pub(super) fn completions(shell: ShellArg) -> Result<(), CommandError> {
    let shell = match shell {
        ShellArg::Bash => Shell::Bash,
        ShellArg::Zsh => Shell::Zsh,
        ShellArg::Fish => Shell::Fish,
    };
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), BIN, &mut script);
    write_out(&script)
}

/// `man`: the manual page, in roff, on standard output.
pub(super) fn man() -> Result<(), CommandError> {
    let mut page = Vec::new();
    clap_mangen::Man::new(Cli::command()).render(&mut page)?;
    write_out(&page)
}

fn write_out(bytes: &[u8]) -> Result<(), CommandError> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(bytes)?;
    stdout.flush()?;
    Ok(())
}
