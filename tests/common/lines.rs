//! The lines a child prints, read on threads so that a test can wait for
//! one with a deadline; when it does not come, the test fails showing
//! every line seen, the child's standard error, and a log if one is named.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A running child and what it printed; the child is killed when dropped.
pub struct Lines {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
    patience: Duration,
    /// A log shown when a line does not come (e.g. the daemon's).
    log: Option<PathBuf>,
}

impl Lines {
    /// Runs `command`; a line waited for must come within `patience`. Its
    /// standard error is read too, each line marked "stderr: ".
    pub fn spawn(mut command: Command, patience: Duration) -> Lines {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (send, lines) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let errors = send.clone();
        std::thread::spawn(move || forward(BufReader::new(stdout), "", &send));
        std::thread::spawn(move || forward(BufReader::new(stderr), "stderr: ", &errors));
        Lines {
            child,
            lines,
            seen: Vec::new(),
            patience,
            log: None,
        }
    }

    /// Shows `log` (e.g. the daemon's) when a line does not come.
    pub fn showing_log(mut self, log: PathBuf) -> Lines {
        self.log = Some(log);
        self
    }

    /// Waits for a line (trimmed) for which `wanted` holds, skipping
    /// others; that line.
    pub fn expect(&mut self, what: &str, wanted: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + self.patience;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if wanted(&line) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no line {what} within {:?}; seen:\n{}\n{}",
                    self.patience,
                    self.seen.join("\n"),
                    self.log
                        .as_ref()
                        .map(|log| format!(
                            "{}:\n{}",
                            log.display(),
                            std::fs::read_to_string(log).unwrap_or_default()
                        ))
                        .unwrap_or_default()
                ),
            }
        }
    }

    /// Waits for a line equal to `wanted`.
    pub fn expect_line(&mut self, wanted: &str) {
        self.expect(&format!("`{wanted}`"), |line| line == wanted);
    }
}

fn forward(from: impl BufRead, mark: &str, to: &mpsc::Sender<String>) {
    for line in from.lines() {
        let Ok(line) = line else { return };
        if to.send(format!("{mark}{}", line.trim())).is_err() {
            return;
        }
    }
}

impl Drop for Lines {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
