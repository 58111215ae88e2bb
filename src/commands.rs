//! Carries out each command of the command line: converts the clap types
//! into the library's options and calls into the library.

mod check;
mod routines;
mod service;
mod shell;

use thiserror::Error;

use std::io::IsTerminal;

use crate::cli::{
    Cli, Command, DaemonArgs, DetailArg, LevelArg, ServiceCommand, SessionArgs, StartArgs,
    StatusArgs,
};
use crate::client::{Client, ClientError};
use crate::config::{Config, LookupError, Paths, find_routine, parse_ms, valid_tempo};
use crate::daemon::DaemonOptions;
use crate::follow;
use crate::history::History;
use crate::protocol::{self, Request, StartOptions, Status};

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
        Command::Check { files } => check::check(&files),
        Command::Daemon(args) => daemon(&args),
        Command::Start(args) => start(&args),
        Command::Pause => control(&Request::Pause),
        Command::Resume => control(&Request::Resume),
        Command::Toggle => control(&Request::Toggle),
        Command::Next(by) if by.step => control(&Request::NextStep),
        Command::Next(_) => control(&Request::Next),
        Command::Prev(by) if by.step => control(&Request::PrevStep),
        Command::Prev(_) => control(&Request::Prev),
        Command::Repeat(by) if by.step => control(&Request::RepeatStep),
        Command::Repeat(_) => control(&Request::Repeat),
        Command::Stop => control(&Request::Stop),
        Command::Status(args) => status(&args),
        Command::History => history(),
        Command::List => routines::list(),
        Command::Show { routine } => routines::show(&routine),
        Command::Plan(args) => routines::plan(&args),
        Command::Phrases => routines::phrases(),
        Command::Schema => routines::schema(),
        Command::Render(args) => routines::render(&args),
        Command::Say { text } => routines::say(&text),
        Command::Completions { shell } => shell::completions(shell),
        Command::Man => shell::man(),
        Command::Service(ServiceCommand::Install) => service::install(),
    }
}

/// `daemon [--detach]`: runs the service until it is told to stop.
fn daemon(args: &DaemonArgs) -> Result<(), CommandError> {
    crate::daemon::run(&DaemonOptions {
        detach: args.detach,
    })
    .map_err(|err| match err.exit_code() {
        2 => CommandError::BadInput(err.to_string()),
        _ => CommandError::Runtime(err.to_string()),
    })
}

/// The paths a client uses, with the socket the configuration may name.
fn client_paths() -> Result<Paths, CommandError> {
    let paths = Paths::from_env().map_err(|e| CommandError::Runtime(e.to_string()))?;
    let config =
        Config::load(&paths.config_file).map_err(|e| CommandError::BadInput(e.to_string()))?;
    paths
        .with_config(&config)
        .map_err(|e| CommandError::Runtime(e.to_string()))
}

fn client_error(err: ClientError) -> CommandError {
    if err.is_bad_input() {
        CommandError::BadInput(err.to_string())
    } else {
        CommandError::Runtime(err.to_string())
    }
}

/// The session flags as protocol options, checked.
fn start_options(args: &SessionArgs) -> Result<StartOptions, CommandError> {
    let length_ms = match &args.length {
        None => None,
        Some(text) => Some(parse_ms(text).filter(|ms| *ms > 0).ok_or_else(|| {
            CommandError::BadInput(format!(
                "--length: `{text}` is not a duration; write it like 25m or 1h10m"
            ))
        })?),
    };
    if let Some(tempo) = args.tempo
        && !valid_tempo(tempo)
    {
        return Err(CommandError::BadInput(format!(
            "--tempo: {tempo} is outside 0.25 to 4 (1.25 is a quarter faster, 0.8 slower)"
        )));
    }
    Ok(StartOptions {
        level: args.level.map(|level| match level {
            LevelArg::Low => protocol::Level::Low,
            LevelArg::Mid => protocol::Level::Mid,
            LevelArg::High => protocol::Level::High,
        }),
        length_ms,
        detail: args.detail.map(|detail| match detail {
            DetailArg::Brief => protocol::Detail::Brief,
            DetailArg::Normal => protocol::Detail::Normal,
            DetailArg::Full => protocol::Detail::Full,
        }),
        tempo: args.tempo,
        replace: false,
    })
}

/// `start ROUTINE`: the routine is found here, so that the daemon gets an
/// absolute path whatever its own folder is.
fn start(args: &StartArgs) -> Result<(), CommandError> {
    let paths = client_paths()?;
    let options = StartOptions {
        replace: args.replace,
        ..start_options(&args.session)?
    };
    let path = find_routine(&args.routine, &paths)
        .and_then(|p| p.canonicalize().map_err(|_| LookupError::NoFile(p)))
        .map_err(|e| CommandError::BadInput(e.to_string()))?;
    let routine = path
        .to_str()
        .ok_or_else(|| CommandError::BadInput(format!("{} is not a UTF-8 path", path.display())))?
        .to_owned();
    let mut client = Client::connect_or_start(&paths).map_err(client_error)?;
    let (status, message) = client
        .call(&Request::Start { routine, options })
        .map_err(client_error)?;
    if args.follow {
        return follow_session(&mut client);
    }
    print_outcome(&status, message.as_deref());
    Ok(())
}

/// `pause`, `resume`, `toggle`, `next`, `prev`, `repeat`, `stop`.
fn control(request: &Request) -> Result<(), CommandError> {
    let paths = client_paths()?;
    let mut client = Client::connect_or_start(&paths).map_err(client_error)?;
    let (status, message) = client.call(request).map_err(client_error)?;
    print_outcome(&status, message.as_deref());
    Ok(())
}

fn print_outcome(status: &Status, message: Option<&str>) {
    if let Some(message) = message {
        println!("{message}");
    }
    println!("{}", follow::summary(status));
}

/// `status [--json] [--follow]`.
fn status(args: &StatusArgs) -> Result<(), CommandError> {
    let paths = client_paths()?;
    let mut client = Client::connect_or_start(&paths).map_err(client_error)?;
    if args.follow {
        return follow_session(&mut client);
    }
    let (status, _) = client.call(&Request::Status).map_err(client_error)?;
    if args.json {
        let json =
            serde_json::to_string(&status).map_err(|e| CommandError::Runtime(e.to_string()))?;
        println!("{json}");
    } else {
        println!("{}", follow::summary(&status));
    }
    Ok(())
}

fn follow_session(client: &mut Client) -> Result<(), CommandError> {
    let stdout = std::io::stdout();
    let terminal = stdout.is_terminal();
    follow::follow(client, &mut stdout.lock(), terminal).map_err(client_error)
}

/// `history`: past sessions, oldest first.
fn history() -> Result<(), CommandError> {
    let paths = client_paths()?;
    let log = History::new(paths.history_file()).read().map_err(|e| {
        CommandError::Runtime(format!(
            "cannot read {}: {e}",
            paths.history_file().display()
        ))
    })?;
    for warning in &log.warnings {
        eprintln!("warning: {warning}");
    }
    if log.entries.is_empty() {
        println!("No sessions yet.");
    }
    for entry in &log.entries {
        println!("{entry}");
    }
    Ok(())
}
