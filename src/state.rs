//! The position of the session, saved so that a session interrupted by a
//! restart, a crash or a power cut carries on where it was.
//!
//! The daemon saves at every step and repetition boundary and when it shuts
//! down; on start it loads a saved session as paused. Every save is atomic:
//! the new content is written to a temporary file in the same folder,
//! flushed to disk, renamed over the old file, and the folder flushed, so
//! the file is always either the old position or the new one, never a mix.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::ms::Ms;
use crate::plan::{self, CueSettings, Detail, Level};

/// The saved-session format this build writes.
pub const FORMAT: u32 = 1;

/// A session's position, as saved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedSession {
    /// The saved-session format; see [`FORMAT`].
    pub format: u32,
    /// The routine file, as an absolute path.
    pub routine: PathBuf,
    /// The options the session was planned with, so that it is planned
    /// the same way again whatever the configuration says now.
    pub options: SavedOptions,
    /// Where in the plan the session is: the start of the repetition it
    /// will carry on from.
    pub offset_ms: Ms,
    /// Whether the session was paused (false: it was playing when saved).
    pub paused: bool,
    /// When the session was started, in milliseconds since the Unix epoch.
    pub started_at_ms: u64,
    /// The SHA-256 of the routine file the session was planned from (see
    /// [`routine_sha256`]): it resumes only onto that same routine. Saves
    /// made before it was kept have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routine_sha256: Option<String>,
    /// The changes made to the plan under way, to make it again.
    #[serde(default, skip_serializing_if = "Changes::is_empty")]
    pub changes: Changes,
    /// The parts of the plan played so far, as (from, to) plan offsets:
    /// what course counting measures.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub heard: Vec<(Ms, Ms)>,
    /// When the session was stopped or replaced (ms since the Unix epoch),
    /// for a session kept to be brought back with `resume --last`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at_ms: Option<u64>,
}

/// The SHA-256 of a routine file, in hexadecimal. Read as routines are:
/// a regular file only (never waiting on a pipe), at most the routine size
/// limit.
pub fn routine_sha256(path: &Path) -> io::Result<String> {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::other("it is not a regular file"));
    }
    let mut bytes = Vec::new();
    file.take(crate::routine::limits::MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)?;
    Ok(Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// The changes made to a session's plan while it ran (`more`, `less`, and
/// the fitting again after a skip under a booking), in order: planning the
/// session and making each change again gives the plan it had.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Changes {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replans: Vec<Replan>,
    /// How much of the plan jumps skipped (negative: played again).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub skipped_ms: i64,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.replans.is_empty() && self.skipped_ms == 0
    }
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// One change of the plan: see [`crate::plan::adjust()`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Replan {
    /// Where the session was.
    pub at_ms: Ms,
    /// The change to the work under way (0 for none).
    #[serde(default)]
    pub change_ms: i64,
    /// The length the plan was fitted to, with a booking.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_ms: Option<Ms>,
    /// The values the changed plan was made of (see
    /// [`crate::plan::Plan::values`]): made again from these, with no
    /// fitting.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<u64>,
}

/// The planning options, in a form that is saved and logged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedOptions {
    pub level: Level,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length_ms: Option<Ms>,
    /// The length came from the configuration (see
    /// [`plan::Options::length_preferred`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub length_preferred: bool,
    pub detail: Detail,
    pub tempo: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_number: Option<u32>,
    pub remaining_ms: Vec<Ms>,
    pub countdown: u32,
}

impl From<&plan::Options> for SavedOptions {
    fn from(options: &plan::Options) -> Self {
        SavedOptions {
            level: options.level,
            length_ms: options.length,
            length_preferred: options.length_preferred,
            detail: options.detail,
            tempo: options.tempo,
            session_number: options.session_number,
            remaining_ms: options.cues.remaining.clone(),
            countdown: options.cues.countdown,
        }
    }
}

impl From<&SavedOptions> for plan::Options {
    fn from(saved: &SavedOptions) -> Self {
        plan::Options {
            level: saved.level,
            length: saved.length_ms,
            length_preferred: saved.length_preferred,
            detail: saved.detail,
            tempo: saved.tempo,
            session_number: saved.session_number,
            cues: CueSettings {
                remaining: saved.remaining_ms.clone(),
                countdown: saved.countdown,
            },
        }
    }
}

/// Why a saved session could not be loaded.
#[derive(Debug, Error)]
pub enum StateError {
    #[error("cannot read the saved session {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("the saved session {} is damaged ({source}); it was set aside as {}", path.display(), aside.display())]
    Damaged {
        path: PathBuf,
        aside: PathBuf,
        source: serde_json::Error,
    },
    #[error("the saved session {} has format {format}, which this version does not read; it was set aside as {}", path.display(), aside.display())]
    Format {
        path: PathBuf,
        aside: PathBuf,
        format: u32,
    },
}

/// The file holding the saved session.
#[derive(Debug, Clone)]
pub struct StateFile {
    path: PathBuf,
}

impl StateFile {
    pub fn new(path: impl Into<PathBuf>) -> StateFile {
        StateFile { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Saves atomically: the file holds either the old or the new position,
    /// whenever the process or the machine stops.
    pub fn save(&self, session: &SavedSession) -> io::Result<()> {
        let mut json = serde_json::to_vec_pretty(session).map_err(io::Error::other)?;
        json.push(b'\n');
        write_atomic(&self.path, &json)
    }

    /// The saved session, if there is one. A temporary file left by a save
    /// that never finished is removed: the last complete save is what
    /// counts. A damaged file is renamed aside (so that it is reported
    /// once, not on every start) and reported as an error.
    pub fn load(&self) -> Result<Option<SavedSession>, StateError> {
        let temp = temp_path(&self.path);
        if temp.exists() {
            tracing::warn!(
                "removing {}, left by a save that did not finish",
                temp.display()
            );
            let _ = fs::remove_file(&temp);
        }
        let bytes = match fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(StateError::Read {
                    path: self.path.clone(),
                    source,
                });
            }
        };
        let aside = || {
            let mut name = self.path.clone().into_os_string();
            name.push(".damaged");
            let aside = PathBuf::from(name);
            let _ = fs::rename(&self.path, &aside);
            aside
        };
        #[derive(Deserialize)]
        struct Format {
            format: u32,
        }
        match serde_json::from_slice::<Format>(&bytes) {
            Ok(Format { format }) if format != FORMAT => {
                return Err(StateError::Format {
                    path: self.path.clone(),
                    aside: aside(),
                    format,
                });
            }
            _ => {}
        }
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| StateError::Damaged {
                path: self.path.clone(),
                aside: aside(),
                source,
            })
    }

    /// Renames the saved session aside as `session.json.SUFFIX`, kept for
    /// the user but never loaded again; where it is now.
    pub fn set_aside(&self, suffix: &str) -> io::Result<PathBuf> {
        let mut name = self.path.clone().into_os_string();
        name.push(".");
        name.push(suffix);
        let aside = PathBuf::from(name);
        fs::rename(&self.path, &aside)?;
        sync_parent(&self.path)?;
        Ok(aside)
    }

    /// Forgets the saved session (it finished or was stopped).
    pub fn clear(&self) -> io::Result<()> {
        match fs::remove_file(&self.path) {
            Err(err) if err.kind() != io::ErrorKind::NotFound => Err(err),
            _ => sync_parent(&self.path),
        }
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn unix_ms_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The temporary file a save of `path` writes first.
fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".tmp");
    PathBuf::from(name)
}

/// Replaces `path` with `bytes` atomically and durably: write a temporary
/// file in the same folder, flush it, rename it over `path`, flush the
/// folder. The file is created readable by its owner only. A write that
/// fails (a full disk) leaves `path` as it was and removes the temporary
/// file, so that no half-written file takes up what room is left.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let temp = temp_path(path);
    // a fresh file, never one already there: a symlink left in its place
    // is removed, not written through
    let _ = fs::remove_file(&temp);
    let written = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&temp, path)
    })();
    if let Err(err) = written {
        let _ = fs::remove_file(&temp);
        return Err(err);
    }
    sync_parent(path)
}

/// Flushes the folder holding `path`, so that a rename or removal in it
/// survives a power cut.
fn sync_parent(path: &Path) -> io::Result<()> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(parent)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn saved(offset_ms: Ms) -> SavedSession {
        SavedSession {
            format: FORMAT,
            routine: "/r/lower-back.toml".into(),
            options: SavedOptions::from(&plan::Options {
                length: Some(1_500_000),
                session_number: Some(4),
                ..plan::Options::default()
            }),
            offset_ms,
            paused: false,
            started_at_ms: 1_700_000_000_000,
            routine_sha256: Some("ab".repeat(32)),
            changes: Changes {
                replans: vec![Replan {
                    at_ms: 60_000,
                    change_ms: -30_000,
                    total_ms: Some(1_500_000),
                    values: vec![1, 12, 1, 60_000],
                }],
                skipped_ms: 12_000,
            },
            heard: Vec::new(),
            ended_at_ms: None,
        }
    }

    #[test]
    fn saves_and_loads() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::new(dir.path().join("session.json"));
        assert_eq!(file.load().unwrap(), None);
        file.save(&saved(1000)).unwrap();
        file.save(&saved(2000)).unwrap();
        assert_eq!(file.load().unwrap(), Some(saved(2000)));
        let mode = fs::metadata(file.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        file.clear().unwrap();
        assert_eq!(file.load().unwrap(), None);
        file.clear().unwrap();
    }

    #[test]
    fn options_survive_the_round_trip() {
        let options = plan::Options {
            level: plan::Level::High,
            detail: plan::Detail::Full,
            tempo: 0.8,
            length: Some(25 * 60_000),
            length_preferred: true,
            session_number: Some(2),
            cues: CueSettings {
                remaining: vec![60_000],
                countdown: 5,
            },
        };
        assert_eq!(plan::Options::from(&SavedOptions::from(&options)), options);
    }

    #[test]
    fn a_save_cut_short_leaves_the_last_complete_one() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::new(dir.path().join("session.json"));
        file.save(&saved(5000)).unwrap();
        // a crash in the middle of the next save: half a temporary file
        let temp = dir.path().join("session.json.tmp");
        fs::write(&temp, b"{\"format\":1,\"routine\":\"/r/low").unwrap();
        assert_eq!(file.load().unwrap(), Some(saved(5000)));
        assert!(!temp.exists(), "the stray temporary file is removed");
        file.save(&saved(6000)).unwrap();
        assert_eq!(file.load().unwrap(), Some(saved(6000)));
    }

    #[test]
    fn a_damaged_file_is_reported_and_set_aside() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("session.json");
        fs::write(&path, b"{\"format\":1,").unwrap();
        let file = StateFile::new(&path);
        let err = file.load().unwrap_err();
        assert!(matches!(err, StateError::Damaged { .. }), "{err}");
        assert!(dir.path().join("session.json.damaged").exists());
        assert_eq!(file.load().unwrap(), None);

        fs::write(&path, b"{\"format\":99}").unwrap();
        let err = file.load().unwrap_err();
        assert!(
            matches!(err, StateError::Format { format: 99, .. }),
            "{err}"
        );
        assert_eq!(file.load().unwrap(), None);
    }
}
