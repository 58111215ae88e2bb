//! Carries out each command of the command line: converts the clap types
//! into the library's options and calls into the library.

mod check;
mod doctor;
mod error;
mod prepare;
mod routines;
mod service;
mod shell;

use std::io::{self, IsTerminal, Write};

use crate::cli::{
    Cli, Command, DaemonAction, DaemonArgs, ServiceCommand, SessionArgs, StartArgs, StatusArgs,
};
use crate::client::{self, Client, ClientError, Stopped};
use crate::config::{Config, ConfigError, parse_ms, valid_tempo};
use crate::daemon::DaemonOptions;
use crate::follow::{self, FollowError};
use crate::history::History;
use crate::lookup::{LookupError, find_routine};
use crate::paths::Paths;
use crate::protocol::{MAX_CHANGE_MS, Request, StartOptions, Status};

pub use error::CommandError;

/// Runs one command line.
pub fn run(cli: Cli) -> Result<(), CommandError> {
    match cli.command {
        Command::Check { files } => check::check(&files),
        Command::Daemon(args) => daemon(&args),
        Command::Start(args) => start(&args),
        Command::Pause => control(&Request::Pause),
        Command::Resume(args) if args.last => control(&Request::ResumeLast),
        Command::Resume(_) => control(&Request::Resume),
        Command::Toggle => control(&Request::Toggle),
        Command::Next(by) if by.step => control(&Request::NextStep),
        Command::Next(_) => control(&Request::Next),
        Command::Prev(by) if by.step => control(&Request::PrevStep),
        Command::Prev(_) => control(&Request::Prev),
        Command::Repeat(by) if by.step => control(&Request::RepeatStep),
        Command::Repeat(_) => control(&Request::Repeat),
        Command::More(args) => control(&Request::More {
            ms: change_ms("more", &args.duration)?,
        }),
        Command::Less(args) => control(&Request::Less {
            ms: change_ms("less", &args.duration)?,
        }),
        Command::Stop => control(&Request::Stop),
        Command::Status(args) => status(&args),
        Command::History => history(),
        Command::List => routines::list(),
        Command::Show { routine } => routines::show(&routine),
        Command::Plan(args) => routines::plan(&args),
        Command::Phrases => routines::phrases(),
        Command::Schema => routines::schema(),
        Command::Render(args) => routines::render(&args),
        Command::Prepare { routine } => prepare::prepare(&routine),
        Command::Say { text } => routines::say(&text),
        Command::Completions { shell } => shell::completions(shell),
        Command::Man => shell::man(),
        Command::Service(ServiceCommand::Install) => service::install(),
        Command::Doctor => doctor::doctor(),
        Command::InstallData { source } => doctor::install_data(source.as_deref()),
    }
}

/// `daemon [--detach]`: runs the service until it is told to stop;
/// `daemon stop|restart`: stops the running one (and starts another).
fn daemon(args: &DaemonArgs) -> Result<(), CommandError> {
    let Some(action) = args.action else {
        crate::daemon::run(&DaemonOptions {
            detach: args.detach,
        })?;
        return Ok(());
    };
    let (paths, broken) = socket_paths()?;
    if let Some(err) = &broken {
        warn_config(err);
    }
    let mut out = io::stdout().lock();
    match client::stop_daemon(&paths)? {
        Stopped::Daemon(Some(pid)) => writeln!(out, "Stopped the daemon (pid {pid}).")?,
        Stopped::Daemon(None) => writeln!(out, "Stopped the daemon.")?,
        Stopped::NotRunning if action == DaemonAction::Stop => {
            writeln!(out, "No daemon was running.")?
        }
        Stopped::NotRunning => {}
    }
    if action == DaemonAction::Restart {
        let mut started = Client::connect_or_start(&paths)?;
        started.call(&Request::Status)?;
        let pid = client::running_pid(&paths)
            .map(|pid| format!(" (pid {pid})"))
            .unwrap_or_default();
        writeln!(
            out,
            "Started a daemon{pid} with this terminal's environment (its sound server and \
             session bus)."
        )?;
    }
    Ok(())
}

/// The paths a client uses, with the socket the configuration may name.
fn client_paths() -> Result<Paths, CommandError> {
    let paths = Paths::from_env()?;
    let config = Config::load(&paths.config_file)?;
    Ok(paths.with_config(&config)?)
}

/// The paths of a command that needs only the socket (`pause`, `stop`,
/// `status`...), and the configuration's mistake if it has one: a
/// configuration that cannot be read must not keep anyone from pausing or
/// stopping a session. The socket it would name is then the usual one.
fn socket_paths() -> Result<(Paths, Option<ConfigError>), CommandError> {
    let paths = Paths::from_env()?;
    match Config::load(&paths.config_file) {
        Ok(config) => Ok((paths.with_config(&config)?, None)),
        Err(err) => Ok((paths, Some(err))),
    }
}

/// Warns that the configuration is not used for this command.
fn warn_config(err: &ConfigError) {
    warn(&format!(
        "{err}\n  (the configuration is not used for this command; fix it before the next start)"
    ));
}

/// A connection for a command that needs only the socket: to the running
/// daemon, with a warning when the configuration is broken; one is started
/// when none runs, which a broken configuration forbids (its mistake is
/// the error).
fn socket_client() -> Result<Client, CommandError> {
    let (paths, broken) = socket_paths()?;
    let Some(err) = broken else {
        return Ok(Client::connect_or_start(&paths)?);
    };
    match Client::connect(&paths.socket) {
        Ok(client) => {
            warn_config(&err);
            Ok(client)
        }
        Err(refused @ ClientError::NotYours { .. }) => Err(refused.into()),
        Err(_) => Err(err.into()),
    }
}

/// The amount of `more` or `less`, checked: a duration of 1 second to 1
/// hour.
fn change_ms(command: &str, text: &str) -> Result<u64, CommandError> {
    let ms = parse_ms(text).ok_or_else(|| {
        CommandError::Usage(format!(
            "{command}: `{text}` is not a duration; write it like 1m, 30s or 2m30s"
        ))
    })?;
    if !(1_000..=MAX_CHANGE_MS).contains(&ms) {
        return Err(CommandError::Usage(format!(
            "{command}: `{text}` is outside 1 second to 1 hour; write it like 1m, 30s or 2m30s"
        )));
    }
    Ok(ms)
}

/// The session flags as protocol options, checked.
fn start_options(args: &SessionArgs) -> Result<StartOptions, CommandError> {
    let length_ms = match &args.length {
        None => None,
        Some(text) => Some(parse_ms(text).filter(|ms| *ms > 0).ok_or_else(|| {
            CommandError::Usage(format!(
                "--length: `{text}` is not a duration; write it like 25m or 1h10m"
            ))
        })?),
    };
    if let Some(tempo) = args.tempo
        && !valid_tempo(tempo)
    {
        return Err(CommandError::Usage(format!(
            "--tempo: {tempo} is outside 0.25 to 4 (1.25 is a quarter faster, 0.8 slower)"
        )));
    }
    Ok(StartOptions {
        level: args.level,
        length_ms,
        detail: args.detail,
        tempo: args.tempo,
        ..StartOptions::default()
    })
}

/// `start ROUTINE`: the routine is found here, so that the daemon gets an
/// absolute path whatever its own folder is.
fn start(args: &StartArgs) -> Result<(), CommandError> {
    let paths = client_paths()?;
    // the music is found here too, so that the daemon gets an absolute
    // path, and a path that is not there is said at once
    let music = match &args.music {
        None => None,
        Some(path) => {
            crate::audio::Playlist::find(path)?;
            Some(
                path.canonicalize()
                    .map_err(|source| crate::audio::MusicError::Read {
                        path: path.clone(),
                        source,
                    })?,
            )
        }
    };
    let options = StartOptions {
        replace: args.replace,
        sound: Some(crate::protocol::sound_environment()),
        music,
        no_music: args.no_music,
        listen: args.listen,
        ..start_options(&args.session)?
    };
    let path = find_routine(&args.routine, &paths)
        .and_then(|p| p.canonicalize().map_err(|_| LookupError::NoFile(p)))?;
    let routine = path
        .to_str()
        .ok_or_else(|| CommandError::Usage(format!("{} is not a UTF-8 path", path.display())))?
        .to_owned();
    // the routine's new phrases are rendered here, with progress, before
    // the daemon plans: it finds them in the cache
    let config = Config::load(&paths.config_file)?;
    if let Ok(parsed) = crate::routine::load_routine(&path) {
        let voice = crate::voice::Voice::new(crate::voice::VoiceSettings::from_config(
            &config.voice,
            &paths,
        ));
        prepare::before_start(&parsed, &config, &voice);
    }
    let mut client = Client::connect_or_start(&paths)?;
    let (status, message) = client.call(&Request::Start { routine, options })?;
    if args.follow {
        return follow_session(client, &paths, false);
    }
    print_outcome(&status, message.as_deref())
}

/// `pause`, `resume`, `toggle`, `next`, `prev`, `repeat`, `stop`.
fn control(request: &Request) -> Result<(), CommandError> {
    let mut client = socket_client()?;
    let (status, message) = client.call(request)?;
    print_outcome(&status, message.as_deref())
}

fn print_outcome(status: &Status, message: Option<&str>) -> Result<(), CommandError> {
    let mut out = io::stdout().lock();
    if let Some(message) = message {
        writeln!(out, "{message}")?;
    }
    writeln!(out, "{}", follow::summary(status))?;
    Ok(())
}

/// `status [--json] [--follow]`.
fn status(args: &StatusArgs) -> Result<(), CommandError> {
    let mut client = socket_client()?;
    if args.follow {
        let (paths, _) = socket_paths()?;
        return follow_session(client, &paths, args.json);
    }
    let (status, _) = client.call(&Request::Status)?;
    let mut out = io::stdout().lock();
    if args.json {
        serde_json::to_writer(&mut out, &status).map_err(io::Error::from)?;
        writeln!(out)?;
    } else {
        writeln!(out, "{}", follow::summary(&status))?;
        // which voice speaks, while a session is under way (a
        // configuration that does not read is the daemon's to report)
        if status.state != crate::protocol::SessionState::Idle
            && let Ok(paths) = Paths::from_env()
            && let Ok(config) = Config::load(&paths.config_file)
        {
            let voice = crate::voice::Voice::new(crate::voice::VoiceSettings::from_config(
                &config.voice,
                &paths,
            ));
            writeln!(out, "Voice: {}", voice.describe())?;
        }
    }
    Ok(())
}

/// The live view (`--follow`), as JSON lines with `--json`; a daemon that
/// dies meanwhile is started again.
fn follow_session(client: Client, paths: &Paths, json: bool) -> Result<(), CommandError> {
    let stdout = std::io::stdout();
    let output = if json {
        follow::Output::Json
    } else if stdout.is_terminal() {
        follow::Output::Terminal
    } else {
        follow::Output::Plain
    };
    let mut restart = || Client::connect_or_start(paths);
    follow::follow(client, &mut stdout.lock(), output, &mut restart).map_err(|err| match err {
        FollowError::Daemon(err) => CommandError::Client(err),
        FollowError::Output(err) => CommandError::Output(err),
    })
}

/// `history`: past sessions, oldest first.
fn history() -> Result<(), CommandError> {
    let (paths, broken) = socket_paths()?;
    if let Some(err) = &broken {
        warn_config(err);
    }
    let log = History::new(paths.history_file())
        .read()
        .map_err(|source| CommandError::History {
            path: paths.history_file(),
            source,
        })?;
    for warning in &log.warnings {
        warn(warning);
    }
    let mut out = io::stdout().lock();
    if log.entries.is_empty() {
        writeln!(out, "No sessions yet.")?;
    }
    for entry in &log.entries {
        writeln!(out, "{entry}")?;
    }
    Ok(())
}

/// A warning on standard error; one that cannot be written is dropped, as
/// there is nowhere left to say so.
fn warn(warning: &str) {
    let _ = writeln!(io::stderr(), "warning: {warning}");
}

/// A note on standard error, dropped like [`warn`]'s when it cannot be
/// written.
fn note(note: &str) {
    let _ = writeln!(io::stderr(), "note: {note}");
}
