//! The natural voice for phrases the pack lacks: Kokoro-82M, the engine
//! and voice the pack was rendered with, as `scripts/install-voice` installs
//! it (a Python helper, `speak.py`, with kokoro-onnx in a virtualenv).
//!
//! One phrase is rendered by running the helper once ([`Natural::command`]
//! as a [`TtsEngine`] template: the model loads each time). Many phrases
//! ([`Natural::render_many`], for `prepare` and `start`) share one helper
//! process in its `--serve` mode, which loads the model once. Both write
//! the same audio into the same cache, under the key the template gives.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::tts::TtsEngine;

/// The variable naming the install folder, overriding the default.
pub const KOKORO_VAR: &str = "MASSAGE_CUE_KOKORO";
/// The voice the pack speaks with, and so every new phrase.
pub const SPEAKER: &str = "af_heart";
/// What the engine's speed may be (its own limits).
pub const SPEED_RANGE: (f64, f64) = (0.5, 2.0);
/// How long one phrase may take in a helper of its own (Python starts, the
/// model loads, then the phrase renders: seconds on a quiet machine, much
/// more on a busy one).
pub const ONE_PHRASE_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the helper of [`Natural::render_many`] may take to load.
const LOAD_TIMEOUT: Duration = Duration::from_secs(120);
/// How long one phrase may take once the helper is loaded.
const PHRASE_TIMEOUT: Duration = Duration::from_secs(60);

static SERVE_COUNTER: AtomicU64 = AtomicU64::new(0);

/// An installed natural voice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Natural {
    /// The install folder.
    pub dir: PathBuf,
    python: PathBuf,
    helper: PathBuf,
}

/// How a batch of phrases went.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchReport {
    /// Phrases rendered and cached.
    pub rendered: usize,
    /// Phrases the engine could not render, with why.
    pub failed: Vec<(String, String)>,
    /// Phrases not rendered because the deadline came first.
    pub left: Vec<String>,
}

impl Natural {
    /// The default install folder: `$MASSAGE_CUE_KOKORO`, else
    /// `$XDG_DATA_HOME/massage-cue/kokoro`, else
    /// `~/.local/share/massage-cue/kokoro`.
    pub fn default_dir() -> Option<PathBuf> {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        if let Some(dir) = var(KOKORO_VAR) {
            return Some(PathBuf::from(dir));
        }
        let data = var("XDG_DATA_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".local/share")))?;
        Some(data.join("massage-cue").join("kokoro"))
    }

    /// The voice installed in the default folder, or why there is none.
    pub fn locate() -> Result<Natural, String> {
        match Natural::default_dir() {
            Some(dir) => Natural::in_dir(&dir),
            None => Err("no home folder to look for it in".into()),
        }
    }

    /// The voice installed in `dir`, or why it is not usable. Only a whole
    /// install counts: the installer writes `installed` last.
    pub fn in_dir(dir: &Path) -> Result<Natural, String> {
        let natural = Natural {
            dir: dir.to_owned(),
            python: dir.join("venv").join("bin").join("python"),
            helper: dir.join("speak.py"),
        };
        let missing = [
            dir.join("installed"),
            natural.python.clone(),
            natural.helper.clone(),
            dir.join("kokoro-v1.0.int8.onnx"),
            dir.join("voices").join(format!("{SPEAKER}.bin")),
        ]
        .into_iter()
        .find(|p| !p.exists());
        match missing {
            None => Ok(natural),
            Some(_) if !dir.exists() => Err(format!(
                "not installed in {} (scripts/install-voice installs it)",
                dir.display()
            )),
            Some(p) => Err(format!(
                "the install in {} is incomplete ({} is missing; run scripts/install-voice again)",
                dir.display(),
                p.display()
            )),
        }
    }

    /// The command that renders one phrase (read from standard input) at
    /// `speed`, as a [`TtsEngine`] template.
    pub fn command(&self, speed: f64) -> Vec<String> {
        vec![
            self.python.to_string_lossy().into_owned(),
            self.helper.to_string_lossy().into_owned(),
            "--voice".into(),
            SPEAKER.into(),
            "--speed".into(),
            speed_arg(speed),
            "--out".into(),
            "{out}".into(),
        ]
    }

    /// The engine rendering with this voice at `speed`, caching in `cache_dir`.
    pub fn engine(&self, speed: f64, cache_dir: PathBuf) -> TtsEngine {
        TtsEngine::new(self.command(speed), cache_dir, ONE_PHRASE_TIMEOUT)
    }

    /// Renders `keys` into `engine`'s cache with one helper that loads the
    /// model once, in order, calling `progress(done, total)` after each.
    /// Phrases still waiting when `deadline` comes are left (the helper is
    /// stopped); `engine` must be [`Natural::engine`] at `speed`.
    pub fn render_many(
        &self,
        engine: &TtsEngine,
        speed: f64,
        keys: &[String],
        deadline: Option<Instant>,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<BatchReport, String> {
        let mut report = BatchReport::default();
        if keys.is_empty() {
            return Ok(report);
        }
        let dir = engine.cache_dir().to_owned();
        fs::create_dir_all(&dir).map_err(|e| format!("cannot make {}: {e}", dir.display()))?;
        let n = SERVE_COUNTER.fetch_add(1, Ordering::Relaxed);
        let stem = format!(".serve-{}-{n}", std::process::id());
        let err_path = dir.join(format!("{stem}.err"));
        let stderr = fs::File::create(&err_path)
            .map_err(|e| format!("cannot write {}: {e}", err_path.display()))?;
        let mut child = Command::new(&self.python)
            .arg(&self.helper)
            .args(["--serve", "--voice", SPEAKER, "--speed", &speed_arg(speed)])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", self.python.display()))?;
        let mut stdin = child.stdin.take().expect("piped");
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stop = |child: &mut std::process::Child| {
            super::tts::kill_group(child.id());
            let _ = child.kill();
            let _ = child.wait();
        };
        let wait_line = |limit: Duration| -> Result<String, String> {
            let limit = match deadline {
                Some(d) => limit.min(d.saturating_duration_since(Instant::now())),
                None => limit,
            };
            rx.recv_timeout(limit).map_err(|e| match e {
                mpsc::RecvTimeoutError::Timeout => "timed out".to_string(),
                mpsc::RecvTimeoutError::Disconnected => "the helper stopped".to_string(),
            })
        };
        let fail = |child: &mut std::process::Child, why: String| {
            stop(child);
            let err = fs::read_to_string(&err_path).unwrap_or_default();
            let _ = fs::remove_file(&err_path);
            let tail: Vec<&str> = err.lines().rev().take(3).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            if tail.is_empty() {
                why
            } else {
                format!("{why}: {}", tail.join(" / "))
            }
        };
        // the model loads first
        match wait_line(LOAD_TIMEOUT) {
            Ok(line) if line.contains("\"ready\"") => {}
            Ok(line) => return Err(fail(&mut child, format!("unexpected answer {line:?}"))),
            Err(why) if deadline.is_some_and(|d| Instant::now() >= d) => {
                stop(&mut child);
                let _ = fs::remove_file(&err_path);
                report.left = keys.to_vec();
                let _ = why;
                return Ok(report);
            }
            Err(why) => return Err(fail(&mut child, format!("the voice did not load ({why})"))),
        }
        let total = keys.len();
        for (i, key) in keys.iter().enumerate() {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                report.left = keys[i..].to_vec();
                break;
            }
            let out = dir.join(format!("{stem}-{i}.wav"));
            let job = serde_json::json!({"text": key, "out": out.to_string_lossy()});
            if writeln!(stdin, "{job}")
                .and_then(|()| stdin.flush())
                .is_err()
            {
                return Err(fail(&mut child, "the helper stopped".into()));
            }
            match wait_line(PHRASE_TIMEOUT) {
                Ok(line) => {
                    let answer: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
                    if answer["ok"] == true {
                        match engine.store(key, &out) {
                            Ok(_) => report.rendered += 1,
                            Err(err) => report.failed.push((key.clone(), err.to_string())),
                        }
                    } else {
                        let why = answer["error"].as_str().unwrap_or(&line).to_string();
                        report.failed.push((key.clone(), why));
                    }
                    let _ = fs::remove_file(&out);
                }
                Err(_) if deadline.is_some_and(|d| Instant::now() >= d) => {
                    let _ = fs::remove_file(&out);
                    report.left = keys[i..].to_vec();
                    break;
                }
                Err(why) => {
                    let _ = fs::remove_file(&out);
                    return Err(fail(&mut child, format!("rendering {key:?} {why}")));
                }
            }
            progress(i + 1, total);
        }
        drop(stdin);
        stop(&mut child);
        let _ = fs::remove_file(&err_path);
        Ok(report)
    }
}

/// The speed as the helper's argument: fixed to two decimals, so that the
/// cache key does not change with how a float prints.
fn speed_arg(speed: f64) -> String {
    format!("{speed:.2}")
}
