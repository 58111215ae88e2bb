//! Rendering a phrase with a text-to-speech command, and the on-disk cache
//! of what it rendered.
//!
//! The command is a list of arguments, run directly and never through a
//! shell: `{text}` in an argument becomes the phrase and `{out}` the WAV
//! file to write. When no argument holds `{text}`, the phrase is written to
//! the command's standard input instead (as `piper` reads it). The command
//! runs in its own process group, and the whole group is killed when it
//! takes longer than the timeout.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::clip::{Clip, ClipError};

/// How often a running command is checked on.
const POLL: Duration = Duration::from_millis(5);
/// Phrases longer than this are not sent to the engine.
const MAX_TEXT_BYTES: usize = 16 * 1024;

/// Why a phrase could not be rendered.
#[derive(Debug, Error)]
pub enum TtsError {
    #[error("the text-to-speech command is empty")]
    NoCommand,
    #[error("`{program}` is not installed (or not on PATH)")]
    NotFound { program: String },
    #[error("cannot start `{program}`: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("`{program}` took longer than {timeout:?} and was stopped")]
    Timeout { program: String, timeout: Duration },
    #[error("`{program}` failed ({status}){}", stderr_note(.stderr))]
    Failed {
        program: String,
        status: String,
        stderr: String,
    },
    #[error("`{program}` did not write a usable WAV file: {reason}")]
    BadOutput { program: String, reason: String },
    #[error("the phrase is too long to render ({0} bytes)")]
    TooLong(usize),
    #[error("cannot write to the speech cache {}: {source}", path.display())]
    Cache {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn stderr_note(stderr: &str) -> String {
    let s = stderr.trim();
    if s.is_empty() {
        String::new()
    } else {
        format!(": {s}")
    }
}

impl TtsError {
    /// Whether the engine can be expected to fail the same way for every
    /// phrase, so that trying again is pointless.
    pub fn is_permanent(&self) -> bool {
        matches!(self, TtsError::NoCommand | TtsError::NotFound { .. })
    }
}

/// A text-to-speech command template and where its output is cached.
#[derive(Debug, Clone)]
pub struct TtsEngine {
    template: Vec<String>,
    cache_dir: PathBuf,
    timeout: Duration,
}

/// Names temporary files uniquely within this process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl TtsEngine {
    /// An engine running `template` (program and arguments, with `{text}`
    /// and `{out}` placeholders), caching into `cache_dir`.
    pub fn new(template: Vec<String>, cache_dir: PathBuf, timeout: Duration) -> TtsEngine {
        TtsEngine {
            template,
            cache_dir,
            timeout,
        }
    }

    /// Where rendered phrases are cached.
    pub fn cache_dir(&self) -> &Path {
        &self.cache_dir
    }

    /// The command template.
    pub fn template(&self) -> &[String] {
        &self.template
    }

    /// Takes a WAV file rendered for `key` elsewhere (by a helper serving
    /// many phrases) into the cache, checked as [`TtsEngine::render`]
    /// checks its own output. `wav` is moved, not copied.
    pub fn store(&self, key: &str, wav: &Path) -> Result<Clip, TtsError> {
        let program = self.program().to_string();
        let clip = validate(wav).map_err(|reason| TtsError::BadOutput {
            program: program.clone(),
            reason,
        })?;
        seal_wav(wav).map_err(|source| TtsError::Cache {
            path: wav.to_owned(),
            source,
        })?;
        let dest = self.cache_path(key);
        fs::rename(wav, &dest).map_err(|source| TtsError::Cache { path: dest, source })?;
        Ok(clip)
    }

    /// The program the template runs.
    pub fn program(&self) -> &str {
        self.template.first().map(String::as_str).unwrap_or("")
    }

    /// Where the rendering of `key` is cached: named by a SHA-256 of the
    /// phrase and of the whole command template, so that another voice or
    /// other settings never reuse a clip.
    pub fn cache_path(&self, key: &str) -> PathBuf {
        let mut hash = Sha256::new();
        hash.update(b"massage-cue speech cache v1\0");
        hash.update(key.as_bytes());
        for arg in &self.template {
            hash.update(b"\0");
            hash.update(arg.as_bytes());
        }
        let digest = hash.finalize();
        let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        self.cache_dir.join(format!("{hex}.wav"))
    }

    /// Decodes the cached rendering of `key`, if there is one. A cached file
    /// that does not decode, or holds less sound than its header says (cut
    /// short after it was cached: the decoder would quietly give half a
    /// phrase), is deleted (so it is rendered again) and reported as an
    /// error.
    pub fn cached(&self, key: &str) -> Option<Result<Clip, ClipError>> {
        let path = self.cache_path(key);
        if !path.exists() {
            return None;
        }
        let result = match wav_data(&path) {
            Ok(data) if data.missing() > 0 => Err(ClipError::Decode {
                path: path.clone(),
                reason: format!(
                    "the file is cut short: {} bytes of sound of the {} its header gives",
                    data.declared - data.missing(),
                    data.declared
                ),
            }),
            _ => Clip::decode_file(&path),
        };
        if result.is_err() {
            let _ = fs::remove_file(&path);
        }
        Some(result)
    }

    /// Runs the command for `key`, checks that it wrote a decodable WAV
    /// with sound in it, and stores it in the cache atomically (written
    /// under a temporary name, then renamed). Returns the decoded clip.
    pub fn render(&self, key: &str) -> Result<Clip, TtsError> {
        let program = self.program().to_string();
        if program.is_empty() {
            return Err(TtsError::NoCommand);
        }
        if key.len() > MAX_TEXT_BYTES {
            return Err(TtsError::TooLong(key.len()));
        }
        private_dir(&self.cache_dir).map_err(|source| TtsError::Cache {
            path: self.cache_dir.clone(),
            source,
        })?;
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let stem = format!(".render-{}-{n}", std::process::id());
        let out = self.cache_dir.join(format!("{stem}.wav"));
        let err_file = self.cache_dir.join(format!("{stem}.err"));
        let result = self.run(key, &out, &err_file).and_then(|()| {
            // An engine that runs out of room may still exit 0 with its
            // output cut short and a header that matches it (espeak-ng
            // does): that clip would be cached and say half a phrase for
            // good. A full disk after the run means the output is not
            // trusted.
            if disk_full(&self.cache_dir) {
                return Err(TtsError::Cache {
                    path: self.cache_dir.clone(),
                    source: std::io::Error::new(
                        std::io::ErrorKind::StorageFull,
                        "no space left; the rendered phrase may be cut short",
                    ),
                });
            }
            let clip = validate(&out).map_err(|reason| TtsError::BadOutput {
                program: program.clone(),
                reason,
            })?;
            // a header written before the length was known (streamed) is
            // made to give the length there is, so that a cached file that
            // is cut short later can be told from it
            seal_wav(&out).map_err(|source| TtsError::Cache {
                path: out.clone(),
                source,
            })?;
            // the phrases of a therapist's routines are theirs alone
            fs::set_permissions(&out, fs::Permissions::from_mode(0o600)).map_err(|source| {
                TtsError::Cache {
                    path: out.clone(),
                    source,
                }
            })?;
            let dest = self.cache_path(key);
            fs::rename(&out, &dest).map_err(|source| TtsError::Cache { path: dest, source })?;
            Ok(clip)
        });
        let _ = fs::remove_file(&out);
        let _ = fs::remove_file(&err_file);
        result
    }

    fn run(&self, key: &str, out: &Path, err_file: &Path) -> Result<(), TtsError> {
        let program = self.program().to_string();
        let out_str = out.to_string_lossy();
        // a phrase starting with '-' must not be read as an option
        let text_arg = if key.starts_with('-') {
            format!(" {key}")
        } else {
            key.to_string()
        };
        let mut text_in_args = false;
        let args: Vec<String> = self.template[1..]
            .iter()
            .map(|arg| {
                text_in_args |= arg.contains("{text}");
                fill(arg, &text_arg, &out_str)
            })
            .collect();
        let stderr = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(err_file)
            .map_err(|source| TtsError::Cache {
                path: err_file.to_owned(),
                source,
            })?;
        let mut command = Command::new(&program);
        command
            .args(&args)
            .stdin(if text_in_args {
                Stdio::null()
            } else {
                Stdio::piped()
            })
            .stdout(Stdio::null())
            .stderr(stderr)
            .process_group(0);
        let mut child = command.spawn().map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                TtsError::NotFound {
                    program: program.clone(),
                }
            } else {
                TtsError::Spawn {
                    program: program.clone(),
                    source,
                }
            }
        })?;
        if let Some(mut stdin) = child.stdin.take() {
            // a command that exits without reading is caught by its status
            let _ = stdin.write_all(key.as_bytes());
            let _ = stdin.write_all(b"\n");
        }
        let deadline = Instant::now() + self.timeout;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() >= deadline => {
                    kill_group(child.id());
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(TtsError::Timeout {
                        program,
                        timeout: self.timeout,
                    });
                }
                Ok(None) => std::thread::sleep(POLL),
                Err(source) => {
                    kill_group(child.id());
                    let _ = child.wait();
                    return Err(TtsError::Spawn { program, source });
                }
            }
        };
        if !status.success() {
            return Err(TtsError::Failed {
                program,
                status: status.to_string(),
                stderr: read_head(err_file, 400),
            });
        }
        Ok(())
    }
}

/// Replaces `{text}` and `{out}` in one pass, so a phrase that itself holds
/// "{out}" stays as it was.
fn fill(arg: &str, text: &str, out: &str) -> String {
    let mut result = String::with_capacity(arg.len() + text.len());
    let mut rest = arg;
    while let Some(at) = rest.find('{') {
        result.push_str(&rest[..at]);
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix("{text}") {
            result.push_str(text);
            rest = after;
        } else if let Some(after) = tail.strip_prefix("{out}") {
            result.push_str(out);
            rest = after;
        } else {
            result.push('{');
            rest = &tail[1..];
        }
    }
    result.push_str(rest);
    result
}

/// Kills the process group a command leads. Only called while the leader
/// is not yet reaped, so the group id cannot have been reused.
pub(super) fn kill_group(pid: u32) {
    if let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
}

/// Where a WAV file's sound data lies, by its header, and how much of it
/// the file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct WavData {
    /// Where the `data` chunk's size field is.
    size_at: u64,
    /// The bytes of sound the header gives.
    declared: u64,
    /// The bytes of sound the file holds after the header.
    present: u64,
}

impl WavData {
    /// The bytes of sound the header gives that the file lacks.
    fn missing(&self) -> u64 {
        self.declared.saturating_sub(self.present)
    }
}

/// Finds the `data` chunk of the RIFF WAV file at `path`.
fn wav_data(path: &Path) -> std::io::Result<WavData> {
    use std::io::{Seek, SeekFrom};
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned());
    let mut file = fs::File::open(path)?;
    let len = file.metadata()?.len();
    let mut head = [0u8; 12];
    file.read_exact(&mut head)?;
    if &head[0..4] != b"RIFF" || &head[8..12] != b"WAVE" {
        return Err(bad("not a RIFF WAV file"));
    }
    let mut at = 12u64;
    // a WAV file has a few chunks before its sound: give up past 64
    for _ in 0..64 {
        let mut chunk = [0u8; 8];
        file.seek(SeekFrom::Start(at))?;
        file.read_exact(&mut chunk)?;
        let size = u64::from(u32::from_le_bytes([chunk[4], chunk[5], chunk[6], chunk[7]]));
        if &chunk[0..4] == b"data" {
            return Ok(WavData {
                size_at: at + 4,
                declared: size,
                present: len.saturating_sub(at + 8),
            });
        }
        at += 8 + size + (size & 1);
    }
    Err(bad("no data chunk"))
}

/// Makes the header of the WAV file at `path` give the length of sound it
/// holds, when it gives more (a header written before the sound was, as
/// streaming writers leave it).
fn seal_wav(path: &Path) -> std::io::Result<()> {
    use std::io::{Seek, SeekFrom};
    let data = wav_data(path)?;
    if data.missing() == 0 {
        return Ok(());
    }
    let mut file = fs::OpenOptions::new().write(true).open(path)?;
    let sound = u32::try_from(data.present).unwrap_or(u32::MAX);
    let riff = u32::try_from(data.size_at + 4 + data.present - 8).unwrap_or(u32::MAX);
    file.seek(SeekFrom::Start(4))?;
    file.write_all(&riff.to_le_bytes())?;
    file.seek(SeekFrom::Start(data.size_at))?;
    file.write_all(&sound.to_le_bytes())?;
    file.sync_all()
}

/// Whether the file system holding `dir` has no room left for more data.
fn disk_full(dir: &Path) -> bool {
    rustix::fs::statvfs(dir).is_ok_and(|fs| fs.f_bavail == 0)
}

fn read_head(path: &Path, max: usize) -> String {
    let mut buf = Vec::new();
    if let Ok(file) = fs::File::open(path) {
        let _ = file.take(max as u64).read_to_end(&mut buf);
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// Checks that `path` is a WAV file holding at least 20 ms of sound that is
/// not all silence; returns it decoded.
fn validate(path: &Path) -> Result<Clip, String> {
    let mut head = [0u8; 12];
    let mut file = fs::File::open(path).map_err(|e| format!("no output file ({e})"))?;
    file.read_exact(&mut head)
        .map_err(|_| "the output file is shorter than a WAV header".to_string())?;
    if &head[0..4] != b"RIFF" || &head[8..12] != b"WAVE" {
        return Err("the output is not a WAV file".to_string());
    }
    let clip = Clip::decode_file(path).map_err(|e| e.to_string())?;
    if clip.duration_ms() < 20 {
        return Err(format!("only {} ms of sound", clip.duration_ms()));
    }
    if clip.peak() < 1e-4 {
        return Err("the output is silent".to_string());
    }
    Ok(clip)
}

/// Creates the cache folder and the folders above it that are missing with
/// mode 0700, and makes it and its own parent (the application's cache
/// folder) private when an older version left them open to others.
fn private_dir(dir: &Path) -> std::io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let uid = rustix::process::geteuid().as_raw();
    let app = dir
        .parent()
        .filter(|p| p.file_name().is_some_and(|n| n == "massage-cue"));
    for folder in [Some(dir), app].into_iter().flatten() {
        let meta = fs::metadata(folder)?;
        if meta.uid() == uid && meta.mode() & 0o077 != 0 {
            fs::set_permissions(folder, fs::Permissions::from_mode(0o700))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_once() {
        assert_eq!(fill("{text}", "hi {out}", "/o.wav"), "hi {out}");
        assert_eq!(fill("-w{out}", "x", "/o.wav"), "-w/o.wav");
        assert_eq!(fill("{a}{text}{", "x", "o"), "{a}x{");
        assert_eq!(fill("plain", "x", "o"), "plain");
        assert_eq!(fill("{text}", "Ünïcødé 你好", "o"), "Ünïcødé 你好");
    }

    #[test]
    fn the_cache_key_depends_on_text_and_command() {
        let dir = PathBuf::from("/cache");
        let t = Duration::from_secs(1);
        let a = TtsEngine::new(vec!["espeak-ng".into(), "{text}".into()], dir.clone(), t);
        let b = TtsEngine::new(
            vec!["espeak-ng".into(), "-s".into(), "{text}".into()],
            dir.clone(),
            t,
        );
        assert_eq!(a.cache_path("Press."), a.cache_path("Press."));
        assert_ne!(a.cache_path("Press."), a.cache_path("Release."));
        assert_ne!(a.cache_path("Press."), b.cache_path("Press."));
        // the key is stable across builds: a fixed digest, not a seeded hash
        assert_eq!(
            a.cache_path("Press.").file_name().unwrap().len(),
            "0123456789abcdef0123456789abcdef.wav".len()
        );
        assert!(a.cache_path("Press.").starts_with(&dir));
    }
}
