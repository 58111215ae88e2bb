use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use massage_cue::cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(massage_cue::logging::filter(
            std::env::var("RUST_LOG").ok().as_deref(),
        ))
        .with_writer(massage_cue::logging::writer)
        // A log line that cannot be written (the log on a full disk) is
        // dropped; reporting it would print to the same full log and panic.
        .log_internal_errors(false)
        .init();
    match massage_cue::commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let code = err.code();
            // 0: the reader of the output went away, which needs no word
            if code != 0 {
                let _ = writeln!(std::io::stderr(), "massage-cue: {err}");
            }
            ExitCode::from(code)
        }
    }
}
