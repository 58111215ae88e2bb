//! What is logged: this program's own lines at the level `RUST_LOG` gives
//! (`warn` when unset), and other crates' (the sound libraries, the D-Bus
//! client, the async runtime) only at warnings unless `RUST_LOG` names
//! them. At `info` they would write a line for every clip decoded (the Ogg
//! demuxer) or every stream opened, which buries the one line per event
//! that matters.
//!
//! `RUST_LOG=info` is this program at `info`; `RUST_LOG=info,cpal=debug`
//! adds the audio library's own debug lines.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;

/// The target of this program's lines (the library and the binary).
const OURS: &str = "massage_cue";

/// The filter for `rust_log`, the value of `RUST_LOG` if set: a bare level
/// is this program's; other crates stay at warnings (or quieter, when the
/// bare level is) unless a directive names them.
pub fn filter(rust_log: Option<&str>) -> EnvFilter {
    let given = rust_log.unwrap_or("warn");
    let mut others = LevelFilter::WARN;
    let mut directives = Vec::new();
    for part in given.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.parse::<LevelFilter>() {
            Ok(level) => {
                others = others.min(level);
                directives.push(format!("{OURS}={level}"));
            }
            Err(_) => directives.push(part.to_owned()),
        }
    }
    directives.insert(0, others.to_string());
    EnvFilter::try_new(directives.join(","))
        .unwrap_or_else(|_| EnvFilter::new(format!("{},{OURS}=warn", LevelFilter::WARN)))
}

/// The log file that standard error goes to, set aside while the program
/// runs once it grows past a size.
#[derive(Debug)]
struct Rotation {
    path: PathBuf,
    max_bytes: u64,
    /// Held while the file is set aside, so that it is done once.
    busy: Mutex<()>,
}

static ROTATION: OnceLock<Rotation> = OnceLock::new();

/// Has the log written through [`writer`] set aside as `PATH.old` (the one
/// before it removed) whenever it grows past `max_bytes`, while the
/// program runs: standard output and error are then moved to a fresh
/// `path`. For a detached daemon, whose standard error is `path`.
pub fn rotate_at(path: PathBuf, max_bytes: u64) {
    let _ = ROTATION.set(Rotation {
        path,
        max_bytes,
        busy: Mutex::new(()),
    });
}

/// Where log lines are written: standard error, which a detached daemon
/// has sent to its log file (see [`rotate_at`]).
pub fn writer() -> LogWriter {
    LogWriter
}

/// Writes log lines to standard error; see [`writer`].
#[derive(Debug)]
pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = io::stderr().write(buf)?;
        if let Some(rotation) = ROTATION.get() {
            rotation.check();
        }
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

impl Rotation {
    /// Whether the file standard error goes to has grown past the size.
    fn too_big(&self) -> bool {
        rustix::fs::fstat(io::stderr()).is_ok_and(|st| st.st_size as u64 > self.max_bytes)
    }

    /// Sets the log aside if standard error (the log) has grown too big.
    fn check(&self) {
        if !self.too_big() {
            return;
        }
        let Ok(_setting_aside) = self.busy.try_lock() else {
            // another thread is setting it aside now
            return;
        };
        if !self.too_big() {
            return;
        }
        let mut old = self.path.clone().into_os_string();
        old.push(".old");
        let fresh = std::fs::rename(&self.path, &old).and_then(|()| {
            OpenOptions::new()
                .append(true)
                .create(true)
                .mode(0o600)
                .open(&self.path)
        });
        // on failure the log goes on growing where it is: nothing to say
        // it in but the log itself
        if let Ok(file) = fresh {
            let _ = rustix::stdio::dup2_stdout(&file);
            let _ = rustix::stdio::dup2_stderr(&file);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// The targets of the lines written, with the filter for `rust_log`,
    /// when each crate below logs once at `info` and once at `warn`.
    fn written(rust_log: Option<&str>) -> Vec<String> {
        let buffer = Arc::new(Mutex::new(Vec::<u8>::new()));
        let sink = Arc::clone(&buffer);
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(filter(rust_log))
            .with_ansi(false)
            .without_time()
            .with_writer(move || Writer(Arc::clone(&sink)))
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(target: "massage_cue::daemon::session_task", "ours");
            tracing::warn!(target: "massage_cue::daemon::session_task", "ours");
            tracing::info!(target: "symphonia_format_ogg::demuxer", "theirs");
            tracing::warn!(target: "symphonia_format_ogg::demuxer", "theirs");
            tracing::info!(target: "cpal::host::alsa", "theirs");
            tracing::warn!(target: "cpal::host::alsa", "theirs");
            tracing::debug!(target: "cpal::host::alsa", "theirs");
        });
        let text = String::from_utf8(buffer.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|l| {
                let mut words = l.split_whitespace();
                let level = words.next().unwrap_or_default();
                let target = words.next().unwrap_or_default().trim_end_matches(':');
                format!("{level} {target}")
            })
            .collect()
    }

    struct Writer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Writer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_bare_level_is_ours_and_every_other_crate_is_held_to_warnings() {
        let ours = "massage_cue::daemon::session_task";
        let ogg = "symphonia_format_ogg::demuxer";
        let cpal = "cpal::host::alsa";
        assert_eq!(
            written(Some("info")),
            [
                format!("INFO {ours}"),
                format!("WARN {ours}"),
                format!("WARN {ogg}"),
                format!("WARN {cpal}"),
            ]
        );
        assert_eq!(written(Some("debug")), written(Some("info")));
        // unset: warnings only, from all
        assert_eq!(
            written(None),
            [
                format!("WARN {ours}"),
                format!("WARN {ogg}"),
                format!("WARN {cpal}"),
            ]
        );
        // quieter than warnings is quieter for all
        assert!(written(Some("error")).is_empty());
        assert!(written(Some("off")).is_empty());
    }

    #[test]
    fn a_crate_named_gets_its_own_level() {
        let lines = written(Some("info,cpal=debug"));
        assert!(
            lines.contains(&"DEBUG cpal::host::alsa".to_string()),
            "{lines:?}"
        );
        assert!(lines.contains(&"INFO massage_cue::daemon::session_task".to_string()));
        assert!(
            !lines.iter().any(|l| l.starts_with("INFO symphonia")),
            "{lines:?}"
        );
        // a bad value falls back to warnings
        assert_eq!(written(Some("=:=")), written(None));
    }
}
