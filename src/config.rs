//! The configuration file (`config.toml`).
//!
//! The file is read permissively by serde into a raw model, then validated
//! into [`Config`], the only type the rest of the program sees. Every error
//! names the file, line and column.

use std::fs;
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use thiserror::Error;
use toml::Spanned;

use crate::line_index::LineIndex;
use crate::ms::Ms;
use crate::plan::{CueSettings, Detail, Level, Options};
use crate::suggest::closest;

/// The validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub session: SessionConfig,
    pub cues: CueSettings,
    pub voice: VoiceConfig,
    pub audio: AudioConfig,
    pub daemon: DaemonConfig,
    pub music: MusicConfig,
    pub listen: ListenConfig,
}

/// `[listen]`: spoken commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenConfig {
    /// Listen for spoken commands in every session (`start --listen` asks
    /// for one session).
    pub enabled: bool,
    /// The sound server's source to listen on; its default source (the
    /// microphone chosen in the desktop's sound settings) unless set.
    pub source: Option<String>,
    /// The word said before every command.
    pub wake_word: String,
}

impl Default for ListenConfig {
    fn default() -> Self {
        ListenConfig {
            enabled: false,
            source: None,
            wake_word: crate::listen::DEFAULT_WAKE_WORD.to_owned(),
        }
    }
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

/// `[voice]`: how phrases not in the voice pack are spoken.
#[derive(Debug, Clone, PartialEq)]
pub struct VoiceConfig {
    /// Speak them with the natural voice (the pack's own) when it is
    /// installed.
    pub natural: bool,
    /// The natural voice's speed for them (0.5 to 2; above 1 is faster).
    pub speed: f64,
    /// How long `start` waits for the natural voice to render a routine's
    /// new phrases before the fallback command says the rest.
    pub prepare_wait: Ms,
    /// The fallback command: program and arguments; `{text}` and `{out}`
    /// are placeholders.
    pub command: Vec<String>,
    /// How long one phrase may take to render with it.
    pub timeout: Ms,
}

/// `[audio]`: the sound output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioConfig {
    /// Resume by itself when sound comes back after it was lost (the
    /// default).
    pub auto_resume: bool,
}

/// `[daemon]`: the background service.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DaemonConfig {
    /// Where the daemon listens, instead of the path
    /// [`Paths`](crate::paths::Paths) works out.
    pub socket: Option<PathBuf>,
}

/// `[music]`: music under the cues.
#[derive(Debug, Clone, PartialEq)]
pub struct MusicConfig {
    /// A music file, or a folder of them, played under every session
    /// unless the command line says otherwise; none by default.
    pub path: Option<PathBuf>,
    /// Its level between cues, 0 to 1 of the files' own.
    pub volume: f64,
}

impl Default for MusicConfig {
    fn default() -> Self {
        MusicConfig {
            path: None,
            volume: crate::audio::music::DEFAULT_VOLUME,
        }
    }
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
                natural: true,
                speed: 1.0,
                prepare_wait: 30_000,
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
            audio: AudioConfig { auto_resume: true },
            daemon: DaemonConfig::default(),
            music: MusicConfig::default(),
            listen: ListenConfig::default(),
        }
    }
}

impl Config {
    /// Reads the configuration file at `path`; a missing file gives the
    /// defaults.
    ///
    /// Read as routine files are: a regular file only (opened without
    /// waiting, so a pipe never blocks), at most [`MAX_CONFIG_BYTES`].
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        match read_limited(path) {
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
        line: u32,
        column: u32,
        message: String,
        hint: Option<String>,
    },
}

/// The largest configuration file read: far more than every key with a
/// long comment each.
pub const MAX_CONFIG_BYTES: u64 = 64 * 1024;

/// The text of a regular file of at most [`MAX_CONFIG_BYTES`].
fn read_limited(path: &Path) -> io::Result<String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::other(
            "it is not a regular file (a folder, a device or a pipe)",
        ));
    }
    let mut bytes = Vec::new();
    // the size can change between a look and the read: never read more
    file.take(MAX_CONFIG_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(io::Error::other(format!(
            "it is larger than {} KiB, which no configuration needs",
            MAX_CONFIG_BYTES / 1024
        )));
    }
    String::from_utf8(bytes).map_err(|_| io::Error::other("it is not UTF-8 text"))
}

impl ConfigError {
    fn invalid(
        path: &Path,
        text: &str,
        span: Option<Range<usize>>,
        message: String,
        hint: Option<String>,
    ) -> ConfigError {
        let (line, column) = LineIndex::new(text).locate(span.map_or(0, |s| s.start));
        ConfigError::Invalid {
            path: path.to_owned(),
            line,
            column,
            message,
            hint,
        }
    }
}

/// "did you mean `level`?" for serde's "unknown field `levle`, expected one
/// of `level`, ..." message.
fn unknown_key_hint(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    let (unknown, expected) = rest.split_once('`')?;
    let keys: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    closest(unknown, &keys, &[]).map(|key| format!("did you mean `{key}`?"))
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
    music: RawMusic,
    listen: RawListen,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawSession {
    #[serde(deserialize_with = "level")]
    level: Option<Level>,
    #[serde(deserialize_with = "detail")]
    detail: Option<Detail>,
    tempo: Option<Spanned<f64>>,
    length: Option<Spanned<String>>,
}

fn level<'de, D: Deserializer<'de>>(value: D) -> Result<Option<Level>, D::Error> {
    one_of(value, "level", Level::NAMES)
}

fn detail<'de, D: Deserializer<'de>>(value: D) -> Result<Option<Detail>, D::Error> {
    one_of(value, "detail", Detail::NAMES)
}

/// A value written as one of a few names; an unknown name is refused
/// with the key and the names it may be.
fn one_of<'de, D, T>(value: D, key: &str, names: [&str; 3]) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
{
    let text = String::deserialize(value)?;
    text.parse().map(Some).map_err(|_| {
        let [a, b, c] = names;
        D::Error::custom(format!(
            "`{key}` must be \"{a}\", \"{b}\" or \"{c}\", not \"{text}\""
        ))
    })
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
    natural: Option<bool>,
    speed: Option<Spanned<f64>>,
    prepare_wait: Option<Spanned<String>>,
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

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawMusic {
    path: Option<Spanned<PathBuf>>,
    volume: Option<Spanned<f64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawListen {
    enabled: Option<bool>,
    source: Option<Spanned<String>>,
    wake_word: Option<Spanned<String>>,
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
            config.session.level = level;
        }
        if let Some(detail) = self.session.detail {
            config.session.detail = detail;
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

        if let Some(natural) = self.voice.natural {
            config.voice.natural = natural;
        }
        if let Some(speed) = self.voice.speed {
            let value = *speed.get_ref();
            let (low, high) = crate::voice::SPEED_RANGE;
            if !(low..=high).contains(&value) {
                return Err(bad(
                    speed.span(),
                    format!("`speed` must be between {low} and {high}, not {value}"),
                    Some("1 is the voice's own pace, 0.9 a little slower"),
                ));
            }
            config.voice.speed = value;
        }
        if let Some(wait) = self.voice.prepare_wait {
            config.voice.prepare_wait = duration(&wait, "prepare_wait")?;
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

        if let Some(music) = self.music.path {
            let expanded = expand_home(music.get_ref());
            if !expanded.is_absolute() {
                return Err(bad(
                    music.span(),
                    "`path` must be an absolute path (or start with ~/)".into(),
                    None,
                ));
            }
            config.music.path = Some(expanded);
        }
        if let Some(volume) = self.music.volume {
            let value = *volume.get_ref();
            if !valid_volume(value) {
                return Err(bad(
                    volume.span(),
                    format!("`volume` must be between 0 and 1, not {value}"),
                    Some("0.3 is the music at 30 % of its own level"),
                ));
            }
            config.music.volume = value;
        }

        if let Some(enabled) = self.listen.enabled {
            config.listen.enabled = enabled;
        }
        if let Some(source) = self.listen.source {
            if source.get_ref().trim().is_empty() {
                return Err(bad(
                    source.span(),
                    "`source` must name a sound server source".into(),
                    Some("`pactl list short sources` lists them; leave it out for the default"),
                ));
            }
            config.listen.source = Some(source.into_inner());
        }
        if let Some(wake) = self.listen.wake_word {
            if !crate::listen::valid_wake_word(wake.get_ref()) {
                return Err(bad(
                    wake.span(),
                    format!(
                        "`wake_word` must be one word of letters, not \"{}\"",
                        wake.get_ref()
                    ),
                    Some("for example \"massage\" or \"computer\""),
                ));
            }
            config.listen.wake_word = wake.into_inner().to_ascii_lowercase();
        }
        Ok(config)
    }
}

/// Whether a music volume is one massage-cue accepts.
pub fn valid_volume(volume: f64) -> bool {
    (0.0..=1.0).contains(&volume)
}

/// `~/x` as a path in the home folder; any other path as it is.
pub fn expand_home(path: &Path) -> PathBuf {
    match (path.strip_prefix("~"), std::env::var_os("HOME")) {
        (Ok(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => path.to_owned(),
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

#[cfg(test)]
mod tests {
    use super::*;

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
auto_resume = false
[daemon]
socket = "/run/x.sock"
[music]
path = "/srv/music"
volume = 0.5
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
        assert!(!config.audio.auto_resume);
        assert_eq!(config.daemon.socket, Some(PathBuf::from("/run/x.sock")));
        assert_eq!(config.music.path, Some(PathBuf::from("/srv/music")));
        assert_eq!(config.music.volume, 0.5);
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
            ("[music]\npath = \"songs\"\n", "my.toml:2:8: `path`"),
            ("[music]\nvolume = 1.5\n", "my.toml:2:10: `volume`"),
            ("[music]\nvolume = -0.1\n", "my.toml:2:10: `volume`"),
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
}
