//! What the session task keeps on disk: where the session under way is, so
//! that it can carry on after a restart, and the history of sessions; with
//! why either could not be written, said in every status until it can be.

use std::os::unix::fs::DirBuilderExt;

use crate::history::{Entry, History};
use crate::paths::Paths;
use crate::state::{SavedSession, StateFile};

/// The saved position and the history, and their troubles.
#[derive(Debug)]
pub(super) struct Records {
    state_file: StateFile,
    /// The session stopped or replaced last, kept to be brought back.
    last_file: StateFile,
    history: History,
    /// Why the position could not be saved (a full disk, a failing
    /// device), until a save succeeds again or there is no position left
    /// to keep.
    unsaved: Option<String>,
    /// Why the last session could not be written to the history, until a
    /// session is written.
    unlogged: Option<String>,
}

impl Records {
    pub(super) fn new(paths: &Paths) -> Records {
        Records {
            state_file: StateFile::new(paths.state_file()),
            last_file: StateFile::new(paths.state_file().with_file_name("last-session.json")),
            history: History::new(paths.history_file()),
            unsaved: None,
            unlogged: None,
        }
    }

    /// The session a restart interrupted, if one was saved and can be read.
    pub(super) fn interrupted(&self) -> Option<SavedSession> {
        match self.state_file.load() {
            Ok(saved) => saved,
            Err(err) => {
                tracing::warn!("{err}");
                None
            }
        }
    }

    /// Keeps a session that was stopped or replaced, to be brought back
    /// with `resume --last`.
    pub(super) fn keep_last(&mut self, saved: &SavedSession) {
        if let Err(err) = self.last_file.save(saved) {
            tracing::warn!(
                "cannot keep the stopped session in {}: {err}",
                self.last_file.path().display()
            );
        }
    }

    /// The session stopped or replaced last, if it ended within `kept_ms`
    /// of `now_unix_ms`.
    pub(super) fn last(&self, now_unix_ms: u64, kept_ms: u64) -> Option<SavedSession> {
        let saved = match self.last_file.load() {
            Ok(saved) => saved?,
            Err(err) => {
                tracing::warn!("{err}");
                return None;
            }
        };
        let ended = saved.ended_at_ms.unwrap_or(0);
        (now_unix_ms.saturating_sub(ended) <= kept_ms).then_some(saved)
    }

    /// Forgets the session kept by [`Records::keep_last`].
    pub(super) fn clear_last(&mut self) {
        if let Err(err) = self.last_file.clear() {
            tracing::warn!("cannot remove {}: {err}", self.last_file.path().display());
        }
    }

    /// Whether the saved session `saved` is in the history: it ended, and
    /// only the removal of its saved position was cut off (the history
    /// line is what marks the end of a session).
    pub(super) fn has_ended(&self, saved: &SavedSession) -> bool {
        match self.history.read() {
            Ok(log) => log.has_ended(&saved.routine, saved.started_at_ms),
            Err(err) => {
                tracing::warn!("cannot read {}: {err}", self.history.path().display());
                false
            }
        }
    }

    /// Sets the saved session aside (see [`StateFile::set_aside`]).
    pub(super) fn set_aside_saved(&mut self) -> Result<std::path::PathBuf, String> {
        self.state_file.set_aside("unresumable").map_err(|err| {
            format!(
                "cannot set {} aside: {err}",
                self.state_file.path().display()
            )
        })
    }

    /// Saves the session's position atomically.
    pub(super) fn save(&mut self, saved: &SavedSession) {
        match self.again_if_gone(self.state_file.path(), || self.state_file.save(saved)) {
            Ok(()) => {
                if self.unsaved.take().is_some() {
                    tracing::info!("the session's position can be saved again");
                }
            }
            Err(err) => {
                let trouble = format!(
                    "Cannot save the session's position to {}: {err}. The session plays on; \
                     make room there so that it can carry on after a restart.",
                    self.state_file.path().display()
                );
                // once, not at every repetition
                if self.unsaved.as_ref() != Some(&trouble) {
                    tracing::warn!("{trouble}");
                }
                self.unsaved = Some(trouble);
            }
        }
    }

    /// Forgets the saved position of a session that ended: nothing is left
    /// to keep, so a position that could not be saved is no longer news.
    pub(super) fn clear_saved(&mut self) {
        match self.again_if_gone(self.state_file.path(), || self.state_file.clear()) {
            Ok(()) => self.unsaved = None,
            Err(err) => tracing::warn!(
                "cannot remove the saved session {}: {err}",
                self.state_file.path().display()
            ),
        }
    }

    /// Writes a session to the history.
    pub(super) fn log(&mut self, entry: &Entry) {
        let appended = self.again_if_gone(self.history.path(), || self.history.append(entry));
        self.unlogged = appended.err().map(|err| {
            let trouble = format!(
                "Cannot write the session to the history {}: {err}; it is not counted.",
                self.history.path().display()
            );
            tracing::warn!("{trouble}");
            trouble
        });
    }

    /// Runs `write`; when it fails because the state folder holding `file`
    /// was removed (by hand, or a cleaner), creates the folder again
    /// (0700) and runs it once more.
    fn again_if_gone(
        &self,
        file: &std::path::Path,
        write: impl Fn() -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        match write() {
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                let Some(dir) = file.parent().filter(|d| !d.exists()) else {
                    return Err(err);
                };
                tracing::warn!("{} was removed; creating it again", dir.display());
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(dir)?;
                write()
            }
            other => other,
        }
    }

    /// A new session begins: news of the last one's history line is old.
    pub(super) fn forget_unlogged(&mut self) {
        self.unlogged = None;
    }

    /// What cannot be written, for the status.
    pub(super) fn troubles(&self) -> impl Iterator<Item = &str> {
        [&self.unsaved, &self.unlogged]
            .into_iter()
            .flatten()
            .map(String::as_str)
    }
}
