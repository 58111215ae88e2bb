//! The configuration file (`config.toml`) and where massage-cue keeps its
//! files.
//!
//! The file is read permissively by serde into a raw model, then validated
//! into [`Config`], the only type the rest of the program sees. Every error
//! names the file, line and column. [`Paths`] resolves the XDG folders, the
//! socket and the bundled routines; [`find_routine`] turns a routine name or
//! path into a file.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::fs;
use std::io;
use std::ops::Range;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use thiserror::Error;
use toml::Spanned;

use crate::ms::Ms;
use crate::plan::{CueSettings, Detail, Level, Options};

/// The application's folder name under each XDG base folder.
const APP: &str = "massage-cue";

/// The longest path a Unix socket address holds (`sun_path` less its NUL).
const MAX_SOCKET_PATH: usize = 107;

/// The validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub session: SessionConfig,
    pub cues: CueSettings,
    pub voice: VoiceConfig,
    pub audio: AudioConfig,
    pub daemon: DaemonConfig,
}

/// `[session]`: how sessions are planned unless the command line says
/// otherwise.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionConfig {
    pub level: Level,
    pub detail: Detail,
    /// Speed factor on every tempo.
    pub tempo: f64,
    /// Fit every session to this length instead of using `level`.
    pub length: Option<Ms>,
}

/// `[voice]`: the text-to-speech command for phrases not in the voice pack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoiceConfig {
    /// Program and arguments; `{text}` and `{out}` are placeholders.
    pub command: Vec<String>,
    /// How long one phrase may take to render.
    pub timeout: Ms,
}

/// `[audio]`: the sound output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioConfig {
    /// Resume by itself when sound comes back after it was lost.
    pub auto_resume: bool,
}

/// `[daemon]`: the background service.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DaemonConfig {
    /// Where the daemon listens, instead of the path [`Paths`] works out.
    pub socket: Option<PathBuf>,
}

impl Default for Config {
    /// The values documented in the top-level `config.toml`.
    fn default() -> Self {
        Config {
            session: SessionConfig {
                level: Level::Mid,
                detail: Detail::Normal,
                tempo: 1.0,
                length: None,
            },
            cues: CueSettings {
                remaining: vec![30_000, 10_000],
                countdown: 3,
            },
            voice: VoiceConfig {
                command: [
                    "espeak-ng",
                    "-v",
                    "en-us",
                    "-s",
                    "150",
                    "-w",
                    "{out}",
                    "{text}",
                ]
                .map(String::from)
                .to_vec(),
                timeout: 10_000,
            },
            audio: AudioConfig { auto_resume: false },
            daemon: DaemonConfig::default(),
        }
    }
}

impl Config {
    /// Reads the configuration file at `path`; a missing file gives the
    /// defaults.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        match fs::read_to_string(path) {
            Ok(text) => Config::parse(&text, path),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(Config::default()),
            Err(source) => Err(ConfigError::Read {
                path: path.to_owned(),
                source,
            }),
        }
    }

    /// Parses and validates the text of a configuration file; `path` is only
    /// used in error messages.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|err| {
            let message = err.message().trim_end().to_owned();
            let hint = unknown_key_hint(&message);
            ConfigError::invalid(path, text, err.span(), message, hint)
        })?;
        raw.validate(text, path)
    }

    /// The planning options this configuration gives when nothing on the
    /// command line overrides them.
    pub fn options(&self) -> Options {
        Options {
            level: self.session.level,
            length: self.session.length,
            length_preferred: self.session.length.is_some(),
            detail: self.session.detail,
            tempo: self.session.tempo,
            session_number: None,
            cues: self.cues.clone(),
        }
    }
}

/// Why the configuration could not be read.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    /// A bad key or value: where, what, and a hint when one helps.
    #[error("{}:{line}:{column}: {message}{}", path.display(), hint.as_deref().map(|h| format!("\n  hint: {h}")).unwrap_or_default())]
    Invalid {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
        hint: Option<String>,
    },
}

impl ConfigError {
    fn invalid(
        path: &Path,
        text: &str,
        span: Option<Range<usize>>,
        message: String,
        hint: Option<String>,
    ) -> ConfigError {
        let (line, column) = line_column(text, span.map_or(0, |s| s.start));
        ConfigError::Invalid {
            path: path.to_owned(),
            line,
            column,
            message,
            hint,
        }
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// "did you mean `level`?" for serde's "unknown field `levle`, expected one
/// of `level`, ..." message.
fn unknown_key_hint(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    let (unknown, expected) = rest.split_once('`')?;
    let keys: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    closest(unknown, &keys).map(|key| format!("did you mean `{key}`?"))
}

/// The candidate most like `word`, if one is close enough to be what was
/// meant.
fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (strsim::jaro_winkler(word, c), *c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

// The file as written: every key optional, unknown keys refused.

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawConfig {
    session: RawSession,
    cues: RawCues,
    voice: RawVoice,
    audio: RawAudio,
    daemon: RawDaemon,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawSession {
    level: Option<Spanned<String>>,
    detail: Option<Spanned<String>>,
    tempo: Option<Spanned<f64>>,
    length: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawCues {
    remaining: Option<Vec<Spanned<String>>>,
    countdown: Option<Spanned<i64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawVoice {
    command: Option<Spanned<Vec<String>>>,
    timeout: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawAudio {
    auto_resume: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawDaemon {
    socket: Option<Spanned<PathBuf>>,
}

impl RawConfig {
    fn validate(self, text: &str, path: &Path) -> Result<Config, ConfigError> {
        let bad = |span: Range<usize>, message: String, hint: Option<&str>| {
            ConfigError::invalid(path, text, Some(span), message, hint.map(str::to_owned))
        };
        let duration = |value: &Spanned<String>, key: &str| -> Result<Ms, ConfigError> {
            parse_ms(value.get_ref()).ok_or_else(|| {
                bad(
                    value.span(),
                    format!("`{key}`: `{}` is not a duration", value.get_ref()),
                    Some("write durations like \"30s\", \"1m\" or \"1m30s\""),
                )
            })
        };
        let mut config = Config::default();

        if let Some(level) = self.session.level {
            config.session.level = match level.get_ref().as_str() {
                "low" => Level::Low,
                "mid" => Level::Mid,
                "high" => Level::High,
                other => {
                    return Err(bad(
                        level.span(),
                        format!("`level` must be \"low\", \"mid\" or \"high\", not \"{other}\""),
                        None,
                    ));
                }
            };
        }
        if let Some(detail) = self.session.detail {
            config.session.detail = match detail.get_ref().as_str() {
                "brief" => Detail::Brief,
                "normal" => Detail::Normal,
                "full" => Detail::Full,
                other => {
                    return Err(bad(
                        detail.span(),
                        format!(
                            "`detail` must be \"brief\", \"normal\" or \"full\", not \"{other}\""
                        ),
                        None,
                    ));
                }
            };
        }
        if let Some(tempo) = self.session.tempo {
            let value = *tempo.get_ref();
            if !valid_tempo(value) {
                return Err(bad(
                    tempo.span(),
                    format!("`tempo` must be between 0.25 and 4, not {value}"),
                    Some("1.25 is a quarter faster, 0.8 a fifth slower"),
                ));
            }
            config.session.tempo = value;
        }
        if let Some(length) = self.session.length {
            let ms = duration(&length, "length")?;
            if ms == 0 {
                return Err(bad(
                    length.span(),
                    "`length` must be more than 0".into(),
                    None,
                ));
            }
            config.session.length = Some(ms);
        }

        if let Some(remaining) = self.cues.remaining {
            let mut all = Vec::with_capacity(remaining.len());
            for value in &remaining {
                let ms = duration(value, "remaining")?;
                if ms == 0 {
                    return Err(bad(
                        value.span(),
                        "`remaining` cues must be more than 0s before the end".into(),
                        None,
                    ));
                }
                all.push(ms);
            }
            all.sort_unstable_by(|a, b| b.cmp(a));
            all.dedup();
            config.cues.remaining = all;
        }
        if let Some(countdown) = self.cues.countdown {
            let value = *countdown.get_ref();
            config.cues.countdown =
                u32::try_from(value)
                    .ok()
                    .filter(|n| *n <= 10)
                    .ok_or_else(|| {
                        bad(
                            countdown.span(),
                            format!("`countdown` must be between 0 and 10, not {value}"),
                            None,
                        )
                    })?;
        }

        if let Some(command) = self.voice.command {
            if command
                .get_ref()
                .first()
                .is_none_or(|program| program.is_empty())
            {
                return Err(bad(
                    command.span(),
                    "`command` needs at least a program name".into(),
                    Some("for example [\"espeak-ng\", \"-w\", \"{out}\", \"{text}\"]"),
                ));
            }
            config.voice.command = command.into_inner();
        }
        if let Some(timeout) = self.voice.timeout {
            let ms = duration(&timeout, "timeout")?;
            if ms == 0 {
                return Err(bad(
                    timeout.span(),
                    "`timeout` must be more than 0".into(),
                    None,
                ));
            }
            config.voice.timeout = ms;
        }

        if let Some(auto_resume) = self.audio.auto_resume {
            config.audio.auto_resume = auto_resume;
        }

        if let Some(socket) = self.daemon.socket {
            if !socket.get_ref().is_absolute() {
                return Err(bad(
                    socket.span(),
                    "`socket` must be an absolute path".into(),
                    None,
                ));
            }
            config.daemon.socket = Some(socket.into_inner());
        }
        Ok(config)
    }
}

/// Whether a tempo factor is one massage-cue accepts.
pub fn valid_tempo(tempo: f64) -> bool {
    (0.25..=4.0).contains(&tempo)
}

/// A humantime duration ("30s", "1m30s") in whole milliseconds.
pub fn parse_ms(text: &str) -> Option<Ms> {
    humantime::parse_duration(text.trim())
        .ok()
        .and_then(|d: Duration| Ms::try_from(d.as_millis()).ok())
}

/// The process environment that decides [`Paths`], gathered in one place so
/// that resolving is a pure function.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    pub home: Option<PathBuf>,
    pub xdg_config_home: Option<OsString>,
    pub xdg_state_home: Option<OsString>,
    pub xdg_cache_home: Option<OsString>,
    pub xdg_runtime_dir: Option<OsString>,
    pub tmpdir: Option<OsString>,
    /// `$MASSAGE_CUE_ROUTINES`: the bundled routines folder.
    pub routines: Option<OsString>,
    /// The running executable, to find the bundled routines beside it.
    pub exe: Option<PathBuf>,
    /// The effective user id.
    pub uid: u32,
}

impl Environment {
    /// Reads the variables of this process.
    pub fn current() -> Environment {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        Environment {
            home: var("HOME")
                .map(PathBuf::from)
                .or_else(|| directories::BaseDirs::new().map(|b| b.home_dir().to_owned())),
            xdg_config_home: var("XDG_CONFIG_HOME"),
            xdg_state_home: var("XDG_STATE_HOME"),
            xdg_cache_home: var("XDG_CACHE_HOME"),
            xdg_runtime_dir: var("XDG_RUNTIME_DIR"),
            tmpdir: var("TMPDIR"),
            routines: var("MASSAGE_CUE_ROUTINES"),
            exe: std::env::current_exe().ok(),
            uid: nix::unistd::geteuid().as_raw(),
        }
    }
}

/// Where massage-cue keeps its files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    /// `$XDG_CONFIG_HOME/massage-cue/config.toml`.
    pub config_file: PathBuf,
    /// `$XDG_CONFIG_HOME/massage-cue/routines/`.
    pub user_routines: PathBuf,
    /// The bundled routines: `$MASSAGE_CUE_ROUTINES`, or the `routines/`
    /// folder found beside the executable.
    pub bundled_routines: Option<PathBuf>,
    /// `$XDG_STATE_HOME/massage-cue/`: saved session, history, daemon log.
    pub state_dir: PathBuf,
    /// `$XDG_CACHE_HOME/massage-cue/`: rendered speech.
    pub cache_dir: PathBuf,
    /// `$XDG_RUNTIME_DIR/massage-cue.sock`, or the private fallback.
    pub socket: PathBuf,
    /// Whether `socket` is in the fallback folder that massage-cue creates
    /// and must keep private itself.
    pub private_socket_dir: bool,
}

/// Why the paths could not be worked out or made ready.
#[derive(Debug, Error)]
pub enum PathsError {
    #[error("HOME is not set, and neither is {0}; cannot tell where to keep files")]
    NoHome(&'static str),
    #[error(
        "the socket path {} is longer than the {MAX_SOCKET_PATH} bytes a socket address holds; set XDG_RUNTIME_DIR or `[daemon] socket` to a shorter path",
        .0.display()
    )]
    SocketPathTooLong(PathBuf),
    #[error("cannot create {}: {source}", path.display())]
    Create { path: PathBuf, source: io::Error },
    #[error("{} is not safe for the socket: {reason}; remove it or set XDG_RUNTIME_DIR", path.display())]
    Unsafe { path: PathBuf, reason: String },
}

impl Paths {
    /// The paths for this process's environment and configuration.
    pub fn from_env() -> Result<Paths, PathsError> {
        Paths::resolve(&Environment::current())
    }

    /// The paths for a given environment. XDG variables that are unset,
    /// empty or relative are ignored, as the XDG base directory
    /// specification asks.
    pub fn resolve(env: &Environment) -> Result<Paths, PathsError> {
        let base = |var: &Option<OsString>, name: &'static str, fallback: &str| match var
            .as_ref()
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
        {
            Some(path) => Ok(path),
            None => env
                .home
                .as_ref()
                .map(|home| home.join(fallback))
                .ok_or(PathsError::NoHome(name)),
        };
        let config = base(&env.xdg_config_home, "XDG_CONFIG_HOME", ".config")?.join(APP);
        let state_dir = base(&env.xdg_state_home, "XDG_STATE_HOME", ".local/state")?.join(APP);
        let cache_dir = base(&env.xdg_cache_home, "XDG_CACHE_HOME", ".cache")?.join(APP);
        let runtime = env
            .xdg_runtime_dir
            .as_ref()
            .map(PathBuf::from)
            .filter(|p| p.is_absolute());
        let (socket, private_socket_dir) = match runtime {
            Some(dir) => (dir.join(format!("{APP}.sock")), false),
            None => {
                let tmp = env
                    .tmpdir
                    .as_ref()
                    .map(PathBuf::from)
                    .filter(|p| p.is_absolute())
                    .unwrap_or_else(|| PathBuf::from("/tmp"));
                (
                    tmp.join(format!("{APP}-{}", env.uid))
                        .join(format!("{APP}.sock")),
                    true,
                )
            }
        };
        let bundled_routines = match env.routines.as_ref() {
            Some(dir) => Some(PathBuf::from(dir)),
            None => env.exe.as_deref().and_then(bundled_beside),
        };
        let paths = Paths {
            config_file: config.join("config.toml"),
            user_routines: config.join("routines"),
            bundled_routines,
            state_dir,
            cache_dir,
            socket,
            private_socket_dir,
        };
        paths.check_socket_len()?;
        Ok(paths)
    }

    /// These paths with the socket that `config` names, if it names one.
    pub fn with_config(mut self, config: &Config) -> Result<Paths, PathsError> {
        if let Some(socket) = &config.daemon.socket {
            self.socket = socket.clone();
            self.private_socket_dir = false;
            self.check_socket_len()?;
        }
        Ok(self)
    }

    fn check_socket_len(&self) -> Result<(), PathsError> {
        if self.socket.as_os_str().len() > MAX_SOCKET_PATH {
            return Err(PathsError::SocketPathTooLong(self.socket.clone()));
        }
        Ok(())
    }

    /// The saved position of an interrupted session.
    pub fn state_file(&self) -> PathBuf {
        self.state_dir.join("session.json")
    }

    /// The session log, one JSON object a line.
    pub fn history_file(&self) -> PathBuf {
        self.state_dir.join("history.jsonl")
    }

    /// Where a detached daemon writes its log.
    pub fn log_file(&self) -> PathBuf {
        self.state_dir.join("daemon.log")
    }

    /// The lock a running daemon holds, beside its socket.
    pub fn lock_file(&self) -> PathBuf {
        let mut name = self.socket.clone().into_os_string();
        name.push(".lock");
        PathBuf::from(name)
    }

    /// Creates the state folder (mode 0700) if it is missing.
    pub fn ensure_state_dir(&self) -> Result<(), PathsError> {
        create_private_dir(&self.state_dir)
    }

    /// Creates the socket's folder if it is missing. The fallback folder is
    /// created with mode 0700 and refused unless it is a real folder owned by
    /// this user that nobody else can enter.
    pub fn ensure_socket_dir(&self, uid: u32) -> Result<(), PathsError> {
        let Some(dir) = self.socket.parent() else {
            return Ok(());
        };
        create_private_dir(dir)?;
        if !self.private_socket_dir {
            return Ok(());
        }
        let unsafe_dir = |reason: String| PathsError::Unsafe {
            path: dir.to_owned(),
            reason,
        };
        let meta = fs::symlink_metadata(dir).map_err(|e| unsafe_dir(e.to_string()))?;
        if !meta.file_type().is_dir() {
            return Err(unsafe_dir("it is not a folder".into()));
        }
        if meta.uid() != uid {
            return Err(unsafe_dir(format!(
                "it belongs to user {}, not {uid}",
                meta.uid()
            )));
        }
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(unsafe_dir(format!(
                "its mode is {:o}; it must be 700",
                meta.permissions().mode() & 0o777
            )));
        }
        Ok(())
    }
}

/// Creates `dir` and its parents; the folders created get mode 0700.
fn create_private_dir(dir: &Path) -> Result<(), PathsError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| PathsError::Create {
            path: dir.to_owned(),
            source,
        })
}

/// The bundled `routines/` folder for an executable: in a source tree
/// (`target/debug/massage-cue`) the nearest folder above it holding both
/// `routines/` and `sounds/`; when installed, `../share/massage-cue/routines`.
fn bundled_beside(exe: &Path) -> Option<PathBuf> {
    let dir = exe.parent()?;
    for ancestor in dir.ancestors().take(5) {
        if ancestor.join("routines").is_dir() && ancestor.join("sounds").is_dir() {
            return Some(ancestor.join("routines"));
        }
    }
    let shared = dir.parent()?.join("share").join(APP).join("routines");
    shared.is_dir().then_some(shared)
}

/// Where a routine file came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The user's routines folder.
    User,
    /// The routines that come with massage-cue.
    Bundled,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Origin::User => "user",
            Origin::Bundled => "bundled",
        })
    }
}

/// A routine file that can be named by its stem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutineFile {
    /// The file stem, which names the routine on the command line.
    pub name: String,
    pub path: PathBuf,
    pub origin: Origin,
}

/// Why a routine could not be found.
#[derive(Debug, Error)]
pub enum LookupError {
    #[error("no routine file at {}", .0.display())]
    NoFile(PathBuf),
    #[error("no routine named `{name}`{}", hint.as_deref().map(|h| format!("; {h}")).unwrap_or_default())]
    NoName { name: String, hint: Option<String> },
}

/// Every routine that can be named: the user's, then the bundled ones that
/// the user's do not shadow; sorted by name within each.
pub fn routine_files(paths: &Paths) -> Vec<RoutineFile> {
    let mut found: BTreeMap<String, RoutineFile> = BTreeMap::new();
    let mut user = Vec::new();
    let mut bundled = Vec::new();
    for (dir, origin) in [
        (Some(paths.user_routines.as_path()), Origin::User),
        (paths.bundled_routines.as_deref(), Origin::Bundled),
    ] {
        let Some(dir) = dir else { continue };
        let Ok(entries) = fs::read_dir(dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "toml") || !path.is_file() {
                continue;
            }
            let Some(name) = path.file_stem().and_then(|s| s.to_str()) else {
                continue;
            };
            if found.contains_key(name) {
                continue;
            }
            let file = RoutineFile {
                name: name.to_owned(),
                path: path.clone(),
                origin,
            };
            found.insert(name.to_owned(), file.clone());
            match origin {
                Origin::User => user.push(file),
                Origin::Bundled => bundled.push(file),
            }
        }
    }
    // read_dir has no order; within one folder, list by name
    user.sort_by(|a, b| a.name.cmp(&b.name));
    bundled.sort_by(|a, b| a.name.cmp(&b.name));
    user.extend(bundled);
    user
}

/// The file a routine argument means: a path when it contains a `/` or ends
/// in `.toml`; otherwise a file stem, looked up in the user's routines
/// folder and then in the bundled one.
pub fn find_routine(name_or_path: &str, paths: &Paths) -> Result<PathBuf, LookupError> {
    if name_or_path.contains('/') || name_or_path.ends_with(".toml") {
        let path = PathBuf::from(name_or_path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(LookupError::NoFile(path))
        };
    }
    let all = routine_files(paths);
    if let Some(file) = all.iter().find(|f| f.name == name_or_path) {
        return Ok(file.path.clone());
    }
    let names: Vec<&str> = all.iter().map(|f| f.name.as_str()).collect();
    let hint = match closest(name_or_path, &names) {
        Some(name) => Some(format!("did you mean `{name}`?")),
        None if names.is_empty() => None,
        None => Some(format!("the routines are: {}", names.join(", "))),
    };
    Err(LookupError::NoName {
        name: name_or_path.to_owned(),
        hint,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_in(dir: &Path) -> Environment {
        Environment {
            home: Some(dir.to_owned()),
            uid: 1234,
            ..Environment::default()
        }
    }

    #[test]
    fn the_documented_file_is_the_default() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml");
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(Config::parse(&text, &path).unwrap(), Config::default());
    }

    #[test]
    fn an_empty_file_is_the_default() {
        assert_eq!(
            Config::parse("", Path::new("c.toml")).unwrap(),
            Config::default()
        );
    }

    #[test]
    fn values_are_read() {
        let text = r#"
[session]
level = "high"
detail = "full"
tempo = 1.25
length = "25m"
[cues]
remaining = ["10s", "1m"]
countdown = 0
[voice]
command = ["say", "-o", "{out}", "{text}"]
timeout = "2s"
[audio]
auto_resume = true
[daemon]
socket = "/run/x.sock"
"#;
        let config = Config::parse(text, Path::new("c.toml")).unwrap();
        assert_eq!(config.session.level, Level::High);
        assert_eq!(config.session.detail, Detail::Full);
        assert_eq!(config.session.tempo, 1.25);
        assert_eq!(config.session.length, Some(25 * 60_000));
        assert_eq!(config.cues.remaining, vec![60_000, 10_000]);
        assert_eq!(config.cues.countdown, 0);
        assert_eq!(config.voice.command, ["say", "-o", "{out}", "{text}"]);
        assert_eq!(config.voice.timeout, 2000);
        assert!(config.audio.auto_resume);
        assert_eq!(config.daemon.socket, Some(PathBuf::from("/run/x.sock")));
        let options = config.options();
        assert_eq!(options.level, Level::High);
        assert_eq!(options.length, Some(25 * 60_000));
        assert_eq!(options.cues.remaining, vec![60_000, 10_000]);
    }

    fn error(text: &str) -> String {
        Config::parse(text, Path::new("my.toml"))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn an_unknown_key_names_file_line_column_and_a_close_key() {
        let message = error("[session]\ndetail = \"full\"\n  levle = \"low\"\n");
        assert!(
            message.starts_with("my.toml:3:3: unknown field `levle`"),
            "{message}"
        );
        assert!(message.contains("did you mean `level`?"), "{message}");
    }

    #[test]
    fn an_unknown_table_is_refused() {
        let message = error("[sesion]\nlevel = \"low\"\n");
        assert!(message.starts_with("my.toml:1:"), "{message}");
        assert!(message.contains("`sesion`"), "{message}");
        assert!(message.contains("did you mean `session`?"), "{message}");
    }

    #[test]
    fn bad_values_name_where_they_are() {
        let cases = [
            ("[session]\nlevel = \"max\"\n", "my.toml:2:9: `level`"),
            ("[session]\ndetail = \"all\"\n", "my.toml:2:10: `detail`"),
            ("[session]\ntempo = 9.0\n", "my.toml:2:9: `tempo`"),
            ("[session]\nlength = \"soon\"\n", "my.toml:2:10: `length`"),
            (
                "[cues]\nremaining = [\"30s\", \"x\"]\n",
                "my.toml:2:21: `remaining`",
            ),
            (
                "[cues]\nremaining = [\"0s\"]\n",
                "my.toml:2:14: `remaining`",
            ),
            ("[cues]\ncountdown = -1\n", "my.toml:2:13: `countdown`"),
            ("[cues]\ncountdown = 11\n", "my.toml:2:13: `countdown`"),
            ("[voice]\ncommand = []\n", "my.toml:2:11: `command`"),
            ("[voice]\ntimeout = \"0s\"\n", "my.toml:2:11: `timeout`"),
            (
                "[daemon]\nsocket = \"rel.sock\"\n",
                "my.toml:2:10: `socket`",
            ),
            ("[audio]\nauto_resume = \"yes\"\n", "my.toml:2:15:"),
        ];
        for (text, start) in cases {
            let message = error(text);
            assert!(message.starts_with(start), "{text:?} gave {message:?}");
        }
    }

    #[test]
    fn a_missing_file_gives_the_defaults() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_owned();
        assert_eq!(
            Config::load(&dir.join("none.toml")).unwrap(),
            Config::default()
        );
    }

    #[test]
    fn xdg_variables_are_honoured() {
        let env = Environment {
            xdg_config_home: Some("/c".into()),
            xdg_state_home: Some("/s".into()),
            xdg_cache_home: Some("/k".into()),
            xdg_runtime_dir: Some("/r".into()),
            routines: Some("/b".into()),
            ..env_in(Path::new("/h"))
        };
        let paths = Paths::resolve(&env).unwrap();
        assert_eq!(paths.config_file, Path::new("/c/massage-cue/config.toml"));
        assert_eq!(paths.user_routines, Path::new("/c/massage-cue/routines"));
        assert_eq!(paths.state_dir, Path::new("/s/massage-cue"));
        assert_eq!(paths.cache_dir, Path::new("/k/massage-cue"));
        assert_eq!(paths.socket, Path::new("/r/massage-cue.sock"));
        assert!(!paths.private_socket_dir);
        assert_eq!(paths.bundled_routines.as_deref(), Some(Path::new("/b")));
        assert_eq!(paths.state_file(), Path::new("/s/massage-cue/session.json"));
        assert_eq!(
            paths.history_file(),
            Path::new("/s/massage-cue/history.jsonl")
        );
        assert_eq!(paths.lock_file(), Path::new("/r/massage-cue.sock.lock"));
    }

    #[test]
    fn unset_or_relative_variables_fall_back_to_home_and_tmp() {
        let env = Environment {
            xdg_config_home: Some("relative".into()),
            ..env_in(Path::new("/h"))
        };
        let paths = Paths::resolve(&env).unwrap();
        assert_eq!(
            paths.config_file,
            Path::new("/h/.config/massage-cue/config.toml")
        );
        assert_eq!(paths.state_dir, Path::new("/h/.local/state/massage-cue"));
        assert_eq!(paths.cache_dir, Path::new("/h/.cache/massage-cue"));
        assert_eq!(
            paths.socket,
            Path::new("/tmp/massage-cue-1234/massage-cue.sock")
        );
        assert!(paths.private_socket_dir);
        let env = Environment {
            tmpdir: Some("/var/tmp".into()),
            ..env
        };
        assert_eq!(
            Paths::resolve(&env).unwrap().socket,
            Path::new("/var/tmp/massage-cue-1234/massage-cue.sock")
        );
    }

    #[test]
    fn no_home_and_no_xdg_is_an_error() {
        let env = Environment::default();
        assert!(matches!(
            Paths::resolve(&env),
            Err(PathsError::NoHome("XDG_CONFIG_HOME"))
        ));
    }

    #[test]
    fn a_socket_path_too_long_is_refused() {
        let env = Environment {
            xdg_runtime_dir: Some(format!("/{}", "x".repeat(100)).into()),
            ..env_in(Path::new("/h"))
        };
        assert!(matches!(
            Paths::resolve(&env),
            Err(PathsError::SocketPathTooLong(_))
        ));
    }

    #[test]
    fn the_config_may_name_the_socket() {
        let paths = Paths::resolve(&env_in(Path::new("/h"))).unwrap();
        let mut config = Config::default();
        config.daemon.socket = Some("/run/mine.sock".into());
        let paths = paths.with_config(&config).unwrap();
        assert_eq!(paths.socket, Path::new("/run/mine.sock"));
        assert!(!paths.private_socket_dir);
    }

    #[test]
    fn the_private_socket_dir_is_created_0700_and_checked() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_owned();
        let uid = nix::unistd::geteuid().as_raw();
        let env = Environment {
            tmpdir: Some(dir.clone().into()),
            uid,
            ..env_in(&dir)
        };
        let paths = Paths::resolve(&env).unwrap();
        paths.ensure_socket_dir(uid).unwrap();
        let socket_dir = paths.socket.parent().unwrap();
        let mode = fs::metadata(socket_dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);

        fs::set_permissions(socket_dir, fs::Permissions::from_mode(0o755)).unwrap();
        let err = paths.ensure_socket_dir(uid).unwrap_err();
        assert!(err.to_string().contains("mode is 755"), "{err}");

        fs::set_permissions(socket_dir, fs::Permissions::from_mode(0o700)).unwrap();
        let err = paths.ensure_socket_dir(uid + 1).unwrap_err();
        assert!(err.to_string().contains("belongs to user"), "{err}");
    }

    #[test]
    fn routines_are_found_by_stem_user_first_or_by_path() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_owned();
        let user = dir.join("user");
        let bundled = dir.join("bundled");
        fs::create_dir_all(&user).unwrap();
        fs::create_dir_all(&bundled).unwrap();
        for (folder, name) in [
            (&user, "mine"),
            (&user, "shared"),
            (&bundled, "shared"),
            (&bundled, "lower-back"),
        ] {
            fs::write(folder.join(format!("{name}.toml")), "").unwrap();
        }
        fs::write(bundled.join("notes.txt"), "").unwrap();
        let mut paths = Paths::resolve(&env_in(&dir)).unwrap();
        paths.user_routines = user.clone();
        paths.bundled_routines = Some(bundled.clone());

        assert_eq!(
            find_routine("mine", &paths).unwrap(),
            user.join("mine.toml")
        );
        assert_eq!(
            find_routine("shared", &paths).unwrap(),
            user.join("shared.toml")
        );
        assert_eq!(
            find_routine("lower-back", &paths).unwrap(),
            bundled.join("lower-back.toml")
        );
        let by_path = bundled.join("shared.toml");
        assert_eq!(
            find_routine(by_path.to_str().unwrap(), &paths).unwrap(),
            by_path
        );
        let names: Vec<_> = routine_files(&paths)
            .into_iter()
            .map(|f| (f.name, f.origin))
            .collect();
        assert_eq!(
            names,
            [
                ("mine".to_owned(), Origin::User),
                ("shared".to_owned(), Origin::User),
                ("lower-back".to_owned(), Origin::Bundled)
            ]
        );

        let err = find_routine("lower-bak", &paths).unwrap_err().to_string();
        assert_eq!(
            err,
            "no routine named `lower-bak`; did you mean `lower-back`?"
        );
        let err = find_routine("zzz", &paths).unwrap_err().to_string();
        assert!(
            err.contains("the routines are: mine, shared, lower-back"),
            "{err}"
        );
        let err = find_routine("./nowhere.toml", &paths).unwrap_err();
        assert!(matches!(err, LookupError::NoFile(_)));
    }

    #[test]
    fn bundled_routines_are_found_beside_the_executable_in_the_source_tree() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_owned();
        fs::create_dir_all(dir.join("routines")).unwrap();
        fs::create_dir_all(dir.join("sounds")).unwrap();
        fs::create_dir_all(dir.join("target/debug")).unwrap();
        let exe = dir.join("target/debug/massage-cue");
        assert_eq!(bundled_beside(&exe), Some(dir.join("routines")));
    }
}
