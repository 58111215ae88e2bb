//! The session log: one JSON object a line, appended when a session ends,
//! never rewritten. It answers `massage-cue history` and "session 4 of 15".
//!
//! Each line is written whole and flushed to disk. A crash in the middle of
//! a write can still leave a half-written last line; reading skips it with a
//! warning, and the next append starts on a fresh line so that it does not
//! join the broken one.

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::plan::HumanMs;
use crate::state::SavedOptions;

/// One session, as logged when it ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The routine's name (what "session N of M" counts by).
    pub routine: String,
    /// The routine file.
    pub path: PathBuf,
    pub options: SavedOptions,
    /// Milliseconds since the Unix epoch.
    pub started_at_ms: u64,
    pub ended_at_ms: u64,
    /// Steps played to their end.
    pub steps_completed: usize,
    /// Steps in the session.
    pub steps: usize,
    /// Whether the session played to its end (false: it was stopped).
    pub completed: bool,
    /// What else happened to it: why an interrupted session could not be
    /// resumed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// How much of the planned work was played, each part once however
    /// often it was repeated (absent in entries of older versions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heard_ms: Option<u64>,
    /// How long the planned work lasts: the steps, without the opening and
    /// the closing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub work_ms: Option<u64>,
}

/// A session counts toward its routine's course when at least this many
/// percent of its planned work was played.
pub const COUNTS_AT_PERCENT: u64 = 80;

impl Entry {
    /// Whether the session counts toward its routine's course: at least
    /// [`COUNTS_AT_PERCENT`] of its planned work played (an entry of an
    /// older version, which did not measure it, counts when completed).
    pub fn counts(&self) -> bool {
        match (self.heard_ms, self.work_ms) {
            (Some(heard), Some(work)) => heard * 100 >= work * COUNTS_AT_PERCENT,
            _ => self.completed,
        }
    }
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let started = UNIX_EPOCH + Duration::from_millis(self.started_at_ms);
        let took = self.ended_at_ms.saturating_sub(self.started_at_ms);
        write!(
            f,
            "{}  {}  {}  {}/{} steps  {}",
            humantime::format_rfc3339_seconds(started),
            self.routine,
            HumanMs(took),
            self.steps_completed,
            self.steps,
            if self.completed {
                "completed"
            } else {
                "stopped"
            }
        )?;
        if let Some(note) = &self.note {
            write!(f, " ({note})")?;
        }
        if let (Some(heard), Some(work)) = (self.heard_ms, self.work_ms)
            && work > 0
        {
            write!(
                f,
                ", {} % played{}",
                heard.min(work) * 100 / work,
                if self.counts() { "" } else { ", not counted" }
            )?;
        }
        Ok(())
    }
}

/// What reading the log found.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Log {
    /// Oldest first.
    pub entries: Vec<Entry>,
    /// Lines that were skipped, and why.
    pub warnings: Vec<String>,
}

impl Log {
    /// Whether the session started at `started_at_ms` from `path` is
    /// logged: it ended, whatever a saved position left behind says.
    pub fn has_ended(&self, path: &Path, started_at_ms: u64) -> bool {
        self.entries
            .iter()
            .rev()
            .any(|e| e.started_at_ms == started_at_ms && e.path == path)
    }

    /// How many sessions of `routine` (by name) count toward its course
    /// (see [`Entry::counts`]). A session stopped and brought back with
    /// `resume --last` keeps its start time and is counted once.
    pub fn sessions_done(&self, routine: &str) -> u32 {
        let mut started: Vec<u64> = self
            .entries
            .iter()
            .filter(|e| e.routine == routine && e.counts())
            .map(|e| e.started_at_ms)
            .collect();
        started.sort_unstable();
        started.dedup();
        started.len() as u32
    }
}

/// The log file.
#[derive(Debug, Clone)]
pub struct History {
    path: PathBuf,
}

impl History {
    pub fn new(path: impl Into<PathBuf>) -> History {
        History { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one entry as one line and flushes it to disk. A write that
    /// fails part way (a full disk) is taken back: the file is cut to its
    /// old length, so no half line is left between whole ones.
    pub fn append(&self, entry: &Entry) -> io::Result<()> {
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&self.path)?;
        let mut line = Vec::new();
        let old_len = file.seek(SeekFrom::End(0))?;
        if old_len > 0 {
            file.seek(SeekFrom::End(-1))?;
            let mut last = [0u8];
            file.read_exact(&mut last)?;
            if last[0] != b'\n' {
                line.push(b'\n');
            }
        }
        serde_json::to_writer(&mut line, entry).map_err(io::Error::other)?;
        line.push(b'\n');
        let written = file.write_all(&line).and_then(|()| file.sync_data());
        if written.is_err() {
            let _ = file.set_len(old_len).and_then(|()| file.sync_data());
        }
        written
    }

    /// Reads every entry. A line that is not an entry (the half-written last
    /// line of a crash, or a damaged one) is skipped with a warning, which
    /// is also logged.
    pub fn read(&self) -> io::Result<Log> {
        let bytes = match fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Log::default()),
            Err(err) => return Err(err),
        };
        let mut log = Log::default();
        let ends_cleanly = bytes.ends_with(b"\n");
        let lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
        // split leaves an empty piece after the final newline
        let count = lines.len() - usize::from(ends_cleanly);
        for (i, line) in lines[..count].iter().enumerate() {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match serde_json::from_slice::<Entry>(line) {
                Ok(entry) => log.entries.push(entry),
                Err(err) => {
                    let warning = if i + 1 == count && !ends_cleanly {
                        format!(
                            "{}:{}: ignoring a half-written last line ({err})",
                            self.path.display(),
                            i + 1
                        )
                    } else {
                        format!(
                            "{}:{}: skipping a line that is not a session ({err})",
                            self.path.display(),
                            i + 1
                        )
                    };
                    tracing::warn!("{warning}");
                    log.warnings.push(warning);
                }
            }
        }
        Ok(log)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan;

    fn entry(routine: &str, completed: bool) -> Entry {
        Entry {
            routine: routine.into(),
            path: format!("/r/{routine}.toml").into(),
            options: SavedOptions::from(&plan::Options::default()),
            started_at_ms: 1_700_000_000_000,
            ended_at_ms: 1_700_000_000_000 + 25 * 60_000,
            steps_completed: if completed { 8 } else { 3 },
            steps: 8,
            completed,
            note: None,
            heard_ms: None,
            work_ms: None,
        }
    }

    #[test]
    fn a_session_counts_when_most_of_its_work_was_played_and_once() {
        let skipped = Entry {
            completed: true,
            heard_ms: Some(10_000),
            work_ms: Some(1_500_000),
            ..entry("back", true)
        };
        assert!(!skipped.counts());
        let stopped_late = Entry {
            completed: false,
            heard_ms: Some(1_200_000),
            work_ms: Some(1_500_000),
            ..entry("back", false)
        };
        assert!(stopped_late.counts(), "80 % counts");
        let short = Entry {
            heard_ms: Some(1_199_999),
            ..stopped_late.clone()
        };
        assert!(!short.counts());
        // brought back and finished: the same start, counted once
        let finished = Entry {
            completed: true,
            heard_ms: Some(1_500_000),
            ..stopped_late.clone()
        };
        let log = Log {
            entries: vec![skipped.clone(), stopped_late, finished, entry("back", true)],
            warnings: Vec::new(),
        };
        // entry() starts at the same instant as the others: one start
        assert_eq!(log.sessions_done("back"), 1);
        assert!(
            skipped
                .to_string()
                .ends_with("completed, 0 % played, not counted")
        );
    }

    #[test]
    fn appends_and_reads_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let history = History::new(dir.path().join("history.jsonl"));
        assert_eq!(history.read().unwrap(), Log::default());
        // sessions start at different times
        let all = [
            entry("back", true),
            entry("waist", false),
            Entry {
                started_at_ms: 1_700_000_100_000,
                ..entry("back", true)
            },
            entry("back", false),
        ];
        for e in &all {
            history.append(e).unwrap();
        }
        let log = history.read().unwrap();
        assert_eq!(log.entries, all);
        assert!(log.warnings.is_empty());
        assert_eq!(log.sessions_done("back"), 2);
        assert_eq!(log.sessions_done("waist"), 0);
        assert_eq!(log.sessions_done("neck"), 0);
    }

    #[test]
    fn a_half_written_last_line_is_ignored_with_a_warning_and_not_joined() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.jsonl");
        let history = History::new(&path);
        history.append(&entry("back", true)).unwrap();
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(b"{\"routine\":\"back\",\"pa").unwrap();
        drop(file);

        let log = history.read().unwrap();
        assert_eq!(log.entries, [entry("back", true)]);
        assert_eq!(log.warnings.len(), 1);
        assert!(
            log.warnings[0].contains("history.jsonl:2: ignoring a half-written last line"),
            "{:?}",
            log.warnings
        );

        let later = Entry {
            started_at_ms: 1_700_000_100_000,
            ..entry("back", true)
        };
        history.append(&later).unwrap();
        let log = history.read().unwrap();
        assert_eq!(log.entries, [entry("back", true), later]);
        assert_eq!(log.warnings.len(), 1);
        assert!(
            log.warnings[0].contains(":2: skipping a line"),
            "{:?}",
            log.warnings
        );
        assert_eq!(log.sessions_done("back"), 2);
    }

    #[test]
    fn an_entry_reads_as_one_line() {
        let line = entry("Lower back", true).to_string();
        assert_eq!(
            line,
            "2023-11-14T22:13:20Z  Lower back  25m  8/8 steps  completed"
        );
    }
}
