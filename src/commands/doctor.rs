//! `doctor`: which folders, voice, speech engine, sound output and
//! microphone this install found, what is missing, and the command that
//! fixes each. `install-data`: the voice pack and the bundled routines of a
//! source folder copied into the user's data folder, for a program
//! installed with `cargo install`.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use rodio::cpal::traits::{DeviceTrait, HostTrait};

use super::CommandError;
use crate::client::{Client, ClientError};
use crate::config::Config;
use crate::lookup::{Origin, routine_files};
use crate::paths::{DataFrom, Paths};
use crate::voice::{INDEX_FILE, Pack, locate_sounds, on_path};

/// Where the voice-command model of Debian's `pocketsphinx-en-us` lies.
const LISTEN_MODEL: &str = "/usr/share/pocketsphinx/model/en-us";

/// How long the sound server may take to answer a probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// How one thing stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    /// Found and usable.
    Ok,
    /// Missing or broken, and needed.
    Missing,
    /// Missing, and needed only by an optional feature.
    Optional,
}

impl Mark {
    fn label(self) -> &'static str {
        match self {
            Mark::Ok => "ok",
            Mark::Missing => "MISSING",
            Mark::Optional => "--",
        }
    }
}

/// One line of the report.
#[derive(Debug)]
struct Check {
    mark: Mark,
    what: &'static str,
    found: String,
    fix: Option<String>,
}

impl Check {
    fn ok(what: &'static str, found: impl Into<String>) -> Check {
        Check {
            mark: Mark::Ok,
            what,
            found: found.into(),
            fix: None,
        }
    }

    fn missing(what: &'static str, found: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            mark: Mark::Missing,
            what,
            found: found.into(),
            fix: Some(fix.into()),
        }
    }

    fn optional(what: &'static str, found: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            mark: Mark::Optional,
            what,
            found: found.into(),
            fix: Some(fix.into()),
        }
    }
}

/// How this program was installed, which decides how missing data is
/// put back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    /// Run from a source checkout.
    Checkout,
    /// Installed by the Debian package, in `/usr/bin`.
    Package,
    /// Installed some other way (`cargo install`).
    Other,
}

/// `doctor`.
pub(super) fn doctor() -> Result<(), CommandError> {
    let paths = Paths::from_env()?;
    let exe = std::env::current_exe().ok();
    let route = if paths
        .data_dirs
        .first()
        .is_some_and(|d| d.from == DataFrom::Program)
        && paths.data_dirs[0].path.join("Cargo.toml").is_file()
    {
        Route::Checkout
    } else if exe.as_deref().is_some_and(|e| e.starts_with("/usr/bin")) {
        Route::Package
    } else {
        Route::Other
    };
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "massage-cue {}{}",
        env!("CARGO_PKG_VERSION"),
        exe.as_deref()
            .map(|e| format!(" ({})", e.display()))
            .unwrap_or_default()
    )?;

    let (config, config_check) = config_check(&paths);
    let folders = vec![
        config_check,
        user_routines_check(&paths),
        Check::ok("state", paths.state_dir.display().to_string()),
        Check::ok("speech cache", paths.cache_dir.display().to_string()),
        daemon_check(&paths),
    ];
    let mut missing = print_section(&mut out, "Folders", &folders)?;
    writeln!(out)?;
    writeln!(out, "Data folders, searched in this order")?;
    if let Some(dir) = &paths.sounds_var {
        writeln!(out, "  $MASSAGE_CUE_SOUNDS: {}", dir.display())?;
    }
    if let Some(dir) = &paths.routines_var {
        writeln!(out, "  $MASSAGE_CUE_ROUTINES: {}", dir.display())?;
    }
    for (n, dir) in paths.data_dirs.iter().enumerate() {
        writeln!(
            out,
            "  {}. {} ({}): {}",
            n + 1,
            dir.path.display(),
            dir.from,
            holds(&dir.path)
        )?;
    }
    let data_fix = data_fix(route);
    let voice = [
        bundled_routines_check(&paths, &data_fix),
        voice_pack_check(&paths, &data_fix),
        engine_check(&config),
    ];
    missing += print_section(&mut out, "Voice", &voice)?;
    let sound = [output_check(), microphone_check()];
    missing += print_section(&mut out, "Sound", &sound)?;
    let listen = [listen_model_check()];
    missing += print_section(&mut out, "Spoken commands (optional)", &listen)?;
    writeln!(out)?;
    if missing == 0 {
        writeln!(out, "Everything a session needs is here.")?;
        Ok(())
    } else {
        out.flush()?;
        Err(CommandError::Missing { count: missing })
    }
}

/// Prints a titled list of checks; the number of them missing.
fn print_section(out: &mut impl Write, title: &str, checks: &[Check]) -> io::Result<usize> {
    writeln!(out)?;
    writeln!(out, "{title}")?;
    for check in checks {
        writeln!(
            out,
            "  {:<8} {:<17} {}",
            check.mark.label(),
            check.what,
            check.found
        )?;
        if let Some(fix) = &check.fix {
            writeln!(out, "  {:<8} {:<17} fix: {fix}", "", "")?;
        }
    }
    Ok(checks.iter().filter(|c| c.mark == Mark::Missing).count())
}

/// The configuration file, and the configuration it gives (the defaults
/// when it cannot be read, which the check reports).
fn config_check(paths: &Paths) -> (Config, Check) {
    let file = paths.config_file.display().to_string();
    if !paths.config_file.exists() {
        return (
            Config::default(),
            Check::ok(
                "configuration",
                format!("{file} (none; the defaults apply)"),
            ),
        );
    }
    match Config::load(&paths.config_file) {
        Ok(config) => (config, Check::ok("configuration", file)),
        Err(err) => (
            Config::default(),
            Check::missing(
                "configuration",
                err.to_string(),
                format!("correct {file}, or move it away to use the defaults"),
            ),
        ),
    }
}

fn user_routines_check(paths: &Paths) -> Check {
    let count = routine_files(paths)
        .iter()
        .filter(|f| f.origin == Origin::User)
        .count();
    let dir = paths.user_routines.display();
    Check::ok(
        "your routines",
        match count {
            0 => format!("{dir} (none yet; write yours there)"),
            n => format!("{dir} ({n})"),
        },
    )
}

fn daemon_check(paths: &Paths) -> Check {
    let socket = paths.socket.display();
    match Client::connect(&paths.socket) {
        Ok(_) => Check::ok("daemon", format!("running, at {socket}")),
        Err(err @ ClientError::NotYours { .. }) => Check::missing(
            "daemon",
            format!("{socket} is another user's"),
            err.to_string(),
        ),
        Err(_) => Check::ok(
            "daemon",
            format!("not running (any command starts it; it will listen at {socket})"),
        ),
    }
}

/// What a data folder holds, in a few words.
fn holds(dir: &Path) -> String {
    if !dir.is_dir() {
        return "not there".into();
    }
    let mut what = Vec::new();
    if dir.join("sounds").join(INDEX_FILE).is_file() {
        what.push("voice pack".to_owned());
    }
    let routines = fs::read_dir(dir.join("routines"))
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == "toml"))
                .count()
        })
        .unwrap_or(0);
    if routines > 0 {
        what.push(format!("{routines} routines"));
    }
    if what.is_empty() {
        "nothing of massage-cue's".into()
    } else {
        what.join(", ")
    }
}

/// The command that puts the voice pack and the bundled routines back.
fn data_fix(route: Route) -> String {
    match route {
        Route::Package => "sudo apt-get install --reinstall massage-cue".into(),
        Route::Checkout => "git checkout -- sounds routines (in the source folder)".into(),
        Route::Other => "massage-cue install-data SOURCE (SOURCE: the massage-cue source folder), \
             or install the Debian package"
            .into(),
    }
}

fn bundled_routines_check(paths: &Paths, fix: &str) -> Check {
    let bundled: Vec<String> = routine_files(paths)
        .into_iter()
        .filter(|f| f.origin == Origin::Bundled)
        .map(|f| f.name)
        .collect();
    if bundled.is_empty() {
        Check::missing("bundled routines", "none found in the data folders", fix)
    } else {
        Check::ok(
            "bundled routines",
            format!("{} ({})", bundled.len(), bundled.join(", ")),
        )
    }
}

fn voice_pack_check(paths: &Paths, fix: &str) -> Check {
    let Some(dir) = locate_sounds(paths) else {
        return Check::missing(
            "voice pack",
            "none found: cues would be spoken by the speech engine or a tone",
            fix,
        );
    };
    match Pack::open(&dir) {
        Ok(pack) => Check::ok(
            "voice pack",
            format!("{} ({} phrases)", dir.display(), pack.len()),
        ),
        Err(err) => Check::missing("voice pack", err.to_string(), fix),
    }
}

fn engine_check(config: &Config) -> Check {
    let Some(program) = config.voice.command.first() else {
        return Check::optional(
            "speech engine",
            "none configured: phrases not in the voice pack are joined from it, or a tone",
            "set [voice] command in the configuration",
        );
    };
    let found = if program.contains('/') {
        Path::new(program).is_file().then(|| PathBuf::from(program))
    } else if on_path(program) {
        std::env::var_os("PATH").and_then(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join(program))
                .find(|p| p.is_file())
        })
    } else {
        None
    };
    match found {
        Some(path) => Check::ok(
            "speech engine",
            format!(
                "{} ({}), for phrases not in the voice pack",
                program,
                path.display()
            ),
        ),
        None => {
            let fix = if program == "espeak-ng" {
                "sudo apt-get install espeak-ng".to_owned()
            } else {
                format!("install {program}, or change [voice] command in the configuration")
            };
            Check::missing(
                "speech engine",
                format!(
                    "{program} is not installed: phrases not in the voice pack would be a tone"
                ),
                fix,
            )
        }
    }
}

/// What the audio host says of the default device one way, asked on a
/// thread of its own so that a sound server that never answers cannot
/// hang the report.
fn probe(output: bool) -> Result<String, String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let host = rodio::cpal::default_host();
        let device = if output {
            host.default_output_device()
        } else {
            host.default_input_device()
        };
        let result = match device {
            None => Err(format!(
                "the audio host ({}) lists no default device",
                host.id().name()
            )),
            Some(device) => {
                let config = if output {
                    device.default_output_config()
                } else {
                    device.default_input_config()
                };
                let name = device
                    .description()
                    .map(|d| d.name().to_owned())
                    .unwrap_or_else(|_| "default".into());
                match config {
                    Ok(config) => Ok(format!(
                        "{name} through {}: {} Hz, {} channels",
                        host.id().name(),
                        config.sample_rate(),
                        config.channels()
                    )),
                    Err(err) => Err(format!("{name} through {}: {err}", host.id().name())),
                }
            }
        };
        let _ = tx.send(result);
    });
    rx.recv_timeout(PROBE_TIMEOUT)
        .unwrap_or_else(|_| Err(format!("no answer within {}s", PROBE_TIMEOUT.as_secs())))
}

/// Where the sound server is, as its clients find it.
fn sound_server() -> String {
    match std::env::var("PULSE_SERVER") {
        Ok(server) if !server.is_empty() => format!("PULSE_SERVER={server}"),
        _ => "the session's sound server".into(),
    }
}

fn output_check() -> Check {
    match probe(true) {
        Ok(found) => Check::ok("sound output", format!("{found}, to {}", sound_server())),
        Err(err) => Check::missing(
            "sound output",
            format!("{err} (looked for {})", sound_server()),
            "start the desktop's sound server (systemctl --user start pipewire-pulse, or \
             pulseaudio --start); without one: sudo apt-get install pipewire-pulse \
             libasound2-plugins. `massage-cue render` works without sound",
        ),
    }
}

fn microphone_check() -> Check {
    match probe(false) {
        Ok(found) => Check::ok("microphone", found),
        Err(err) => Check::optional(
            "microphone",
            format!("{err}; needed only for spoken commands"),
            "plug one in, or choose one in the desktop's sound settings",
        ),
    }
}

fn listen_model_check() -> Check {
    if Path::new(LISTEN_MODEL).is_dir() {
        Check::ok("speech model", LISTEN_MODEL)
    } else {
        Check::optional(
            "speech model",
            format!("{LISTEN_MODEL} is not installed"),
            "sudo apt-get install pocketsphinx-en-us",
        )
    }
}

/// `install-data [SOURCE]`: copies `sounds/` and `routines/` from the
/// source folder (the current folder by default) into
/// `$XDG_DATA_HOME/massage-cue`, replacing what an earlier run put there.
/// Each folder is copied beside its place first and then renamed into it,
/// so a failed copy leaves the earlier one whole.
pub(super) fn install_data(from: Option<&Path>) -> Result<(), CommandError> {
    let paths = Paths::from_env()?;
    let source = match from {
        Some(dir) => dir.to_owned(),
        None => std::env::current_dir().map_err(CommandError::Output)?,
    };
    if !source.join("sounds").join(INDEX_FILE).is_file() || !source.join("routines").is_dir() {
        return Err(CommandError::Usage(format!(
            "{} is not a massage-cue source folder (no sounds/{INDEX_FILE} and routines/ in it); \
             run this in the source folder, or name it: massage-cue install-data PATH",
            source.display()
        )));
    }
    let target = paths.data_home.clone();
    if fs::canonicalize(&source).ok() == fs::canonicalize(&target).ok() {
        return Err(CommandError::Usage(format!(
            "{} is already the data folder",
            target.display()
        )));
    }
    let write_err = |path: &Path| {
        let path = path.to_owned();
        move |source| CommandError::Write { path, source }
    };
    fs::create_dir_all(&target).map_err(write_err(&target))?;
    for name in ["sounds", "routines"] {
        let place = target.join(name);
        let fresh = target.join(format!(".{name}.new"));
        let old = target.join(format!(".{name}.old"));
        for leftover in [&fresh, &old] {
            if leftover.exists() {
                fs::remove_dir_all(leftover).map_err(write_err(leftover))?;
            }
        }
        copy_tree(&source.join(name), &fresh)?;
        if place.exists() {
            fs::rename(&place, &old).map_err(write_err(&place))?;
        }
        fs::rename(&fresh, &place).map_err(write_err(&place))?;
        if old.exists() {
            fs::remove_dir_all(&old).map_err(write_err(&old))?;
        }
    }
    let pack = Pack::open(&target.join("sounds"))
        .map(|p| p.len())
        .unwrap_or(0);
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "Installed the voice pack ({pack} phrases) and the bundled routines in {}.",
        target.display()
    )?;
    writeln!(out, "Check the rest with: massage-cue doctor")?;
    Ok(())
}

/// Copies the folder `from` to `to` (which must not exist): folders and
/// regular files; anything else is passed over.
fn copy_tree(from: &Path, to: &Path) -> Result<(), CommandError> {
    let read_err = |path: &Path| {
        let path = path.to_owned();
        move |source| CommandError::Read { path, source }
    };
    fs::create_dir(to).map_err(|source| CommandError::Write {
        path: to.to_owned(),
        source,
    })?;
    for entry in fs::read_dir(from).map_err(read_err(from))? {
        let entry = entry.map_err(read_err(from))?;
        let kind = entry.file_type().map_err(read_err(&entry.path()))?;
        let dest = to.join(entry.file_name());
        if kind.is_dir() {
            copy_tree(&entry.path(), &dest)?;
        } else if kind.is_file() {
            fs::copy(entry.path(), &dest).map_err(|source| CommandError::Write {
                path: dest.clone(),
                source,
            })?;
        }
    }
    Ok(())
}
