//! The bundled voice pack: pre-rendered clips in `sounds/`, found through
//! `sounds/voice/index.tsv` (written by `scripts/build-voice-pack`).
//!
//! The index is tab-separated, one clip a line, after `#` comment lines and
//! a header line: `kind  key  file  start  length  duration_ms  hash`, where
//! `kind` is `speech` (key: the phrase) or `sound` (key: `tick` or
//! `chime`), `file` is relative to the `sounds/` folder, and the clip is
//! `length` samples of that file from sample `start`. Phrases of one family
//! ("Session 4 of 15.", "Session 5 of 15.") share a file, a bank: one set of
//! codec headers for many clips keeps the pack small. A clip is cut out of
//! its bank as the bank is decoded, and the rest of the bank is let go, so
//! a session holds only the audio it plays.
//!
//! `sounds/voice/files.sha256` holds the SHA-256 of every file the index
//! names, in `sha256sum` form (`cd sounds && sha256sum -c
//! voice/files.sha256` checks them). A file whose bytes no longer match is
//! damaged: its clips are refused, so a phrase is never cut from audio
//! that a damaged page has shifted.

use std::collections::HashMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::clip::{Clip, ClipError};
use crate::ms::Ms;
use crate::speech::Sound;

use super::phrase::{loose, phrase_key};

/// Where the index lives inside the `sounds/` folder.
pub const INDEX_FILE: &str = "voice/index.tsv";

/// Where the checksums of the pack's files live inside the `sounds/`
/// folder.
pub const SUMS_FILE: &str = "voice/files.sha256";

/// The largest pack file read whole to check its checksum: far above any
/// bank (a few hundred kilobytes).
const MAX_PACK_FILE_BYTES: u64 = 64 << 20;

/// Why the pack's index could not be read.
#[derive(Debug, Error)]
pub enum PackError {
    #[error("cannot read the voice pack index {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}:{line}: {reason}", path.display())]
    Line {
        path: PathBuf,
        line: usize,
        reason: String,
    },
}

/// One clip as the index lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackEntry {
    /// The file holding the clip, relative to the `sounds/` folder.
    pub file: PathBuf,
    /// The clip's first sample in the file.
    pub start: usize,
    /// The clip's length in samples.
    pub length: usize,
    /// The clip's length in milliseconds, rounded up.
    pub duration_ms: Ms,
}

/// The voice pack's index, and where its files are.
#[derive(Clone, Default)]
pub struct Pack {
    dir: Option<PathBuf>,
    speech: HashMap<String, PackEntry>,
    sounds: HashMap<Sound, PackEntry>,
    /// Loose form of every phrase (see [`loose`]) → its key, for
    /// composing phrases from pieces.
    words: HashMap<String, String>,
    /// The SHA-256 of each file, by its path relative to `sounds/`.
    sums: HashMap<PathBuf, [u8; 32]>,
}

impl std::fmt::Debug for Pack {
    // the index is far too long to print
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pack")
            .field("dir", &self.dir)
            .field("phrases", &self.speech.len())
            .field("sounds", &self.sounds.len())
            .field("checksums", &self.sums.len())
            .finish_non_exhaustive()
    }
}

impl Pack {
    /// A pack with no clips: every phrase falls through to the other
    /// sources.
    pub fn empty() -> Pack {
        Pack::default()
    }

    /// Reads the index of the pack in `dir` (a `sounds/` folder). Lines that
    /// cannot be understood are errors: a half-read index would silently
    /// change which voice speaks.
    pub fn open(dir: &Path) -> Result<Pack, PackError> {
        let path = dir.join(INDEX_FILE);
        let text = fs::read_to_string(&path).map_err(|source| PackError::Read {
            path: path.clone(),
            source,
        })?;
        let mut pack = Pack {
            dir: Some(dir.to_owned()),
            ..Pack::default()
        };
        for (i, line) in text.lines().enumerate() {
            let bad = |reason: String| PackError::Line {
                path: path.clone(),
                line: i + 1,
                reason,
            };
            if line.trim().is_empty() || line.starts_with('#') || line.starts_with("kind\t") {
                continue;
            }
            let fields: Vec<&str> = line.split('\t').collect();
            let [kind, key, file, start, length, ms, _hash] = fields[..] else {
                return Err(bad(format!(
                    "expected 7 tab-separated fields, found {}",
                    fields.len()
                )));
            };
            let number = |what: &str, text: &str| {
                text.parse::<u64>()
                    .map_err(|_| bad(format!("{what} `{text}` is not a whole number")))
            };
            let duration_ms: Ms = number("duration", ms)?;
            let start = number("start", start)? as usize;
            let length = number("length", length)? as usize;
            if length == 0 {
                return Err(bad("a clip of length 0".to_string()));
            }
            let file = PathBuf::from(file);
            if file.is_absolute()
                || file
                    .components()
                    .any(|c| matches!(c, std::path::Component::ParentDir))
            {
                return Err(bad(format!(
                    "file `{}` must lie inside the pack",
                    file.display()
                )));
            }
            let entry = PackEntry {
                file,
                start,
                length,
                duration_ms,
            };
            match kind {
                "speech" => {
                    let key = phrase_key(key);
                    pack.add_word(&key);
                    pack.speech.insert(key, entry);
                }
                "sound" => {
                    let sound = match key {
                        "tick" => Sound::Tick,
                        "chime" => Sound::Chime,
                        other => return Err(bad(format!("unknown sound `{other}`"))),
                    };
                    pack.sounds.insert(sound, entry);
                }
                other => return Err(bad(format!("unknown kind `{other}`"))),
            }
        }
        pack.sums = read_sums(dir)?;
        Ok(pack)
    }

    /// Remembers `key` under its loose form; of two phrases with the same
    /// loose form ("3" and "3."), the shorter, plainer one is kept.
    fn add_word(&mut self, key: &str) {
        let form = loose(key);
        if form.is_empty() {
            return;
        }
        let keep = match self.words.get(&form) {
            Some(old) => (key.len(), key) < (old.len(), old.as_str()),
            None => true,
        };
        if keep {
            self.words.insert(form, key.to_string());
        }
    }

    /// The `sounds/` folder this pack was read from.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// How many spoken phrases the pack holds.
    pub fn len(&self) -> usize {
        self.speech.len()
    }

    /// Whether the pack holds no spoken phrases.
    pub fn is_empty(&self) -> bool {
        self.speech.is_empty()
    }

    /// The entry of a phrase, by its exact key (see [`phrase_key`]).
    pub fn entry(&self, key: &str) -> Option<&PackEntry> {
        self.speech.get(key)
    }

    /// The entry of a sound.
    pub fn sound_entry(&self, sound: Sound) -> Option<&PackEntry> {
        self.sounds.get(&sound)
    }

    /// Every phrase key in the pack.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.speech.keys().map(String::as_str)
    }

    /// The key of the phrase whose loose form is `loose`, if any.
    pub(crate) fn key_for_loose(&self, loose: &str) -> Option<&str> {
        self.words.get(loose).map(String::as_str)
    }

    /// Decodes a phrase's clip and checks it against the index: a file that
    /// is missing, does not decode, or decodes to a different length than
    /// indexed is an error, so the caller can move on to another source.
    pub fn load(&self, key: &str) -> Option<Result<Clip, ClipError>> {
        let entry = self.speech.get(key)?;
        Some(self.load_entry(entry))
    }

    /// Decodes a sound's clip, checked as [`Pack::load`] does.
    pub fn load_sound(&self, sound: Sound) -> Option<Result<Clip, ClipError>> {
        let entry = self.sounds.get(&sound)?;
        Some(self.load_entry(entry))
    }

    /// Whether the pack's files have checksums to be checked against.
    pub fn has_checksums(&self) -> bool {
        !self.sums.is_empty()
    }

    /// The checksum of a file of the pack, by its path relative to
    /// `sounds/`.
    pub fn checksum(&self, file: &Path) -> Option<&[u8; 32]> {
        self.sums.get(file)
    }

    fn load_entry(&self, entry: &PackEntry) -> Result<Clip, ClipError> {
        let dir = self.dir.as_deref().unwrap_or(Path::new("."));
        let path = dir.join(&entry.file);
        let Some(sum) = self.sums.get(&entry.file) else {
            return Clip::decode_range(&path, entry.start, entry.length);
        };
        let damaged = |reason: String| ClipError::Decode {
            path: path.clone(),
            reason,
        };
        let open = |source| ClipError::Open {
            path: path.clone(),
            source,
        };
        let file = fs::File::open(&path).map_err(open)?;
        let mut bytes = Vec::new();
        file.take(MAX_PACK_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(open)?;
        if bytes.len() as u64 > MAX_PACK_FILE_BYTES {
            return Err(damaged(format!(
                "larger than {} MiB; not a voice pack file",
                MAX_PACK_FILE_BYTES >> 20
            )));
        }
        if Sha256::digest(&bytes)[..] != sum[..] {
            return Err(damaged(format!(
                "its bytes do not match its checksum in {SUMS_FILE}: the file is damaged"
            )));
        }
        Clip::decode_range_of(bytes, &path, entry.start, entry.length)
    }
}

/// Reads the pack's checksums, when the pack has them: none at all is
/// allowed (a pack made by hand), a line that cannot be understood is not.
fn read_sums(dir: &Path) -> Result<HashMap<PathBuf, [u8; 32]>, PackError> {
    let path = dir.join(SUMS_FILE);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(HashMap::new()),
        Err(source) => return Err(PackError::Read { path, source }),
    };
    let mut sums = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |reason: String| PackError::Line {
            path: path.clone(),
            line: i + 1,
            reason,
        };
        let Some((hex, file)) = line.split_once("  ") else {
            return Err(bad("expected `SHA-256  file`".to_string()));
        };
        let sum = parse_sha256(hex)
            .ok_or_else(|| bad(format!("`{hex}` is not a SHA-256 in hexadecimal")))?;
        sums.insert(PathBuf::from(file), sum);
    }
    Ok(sums)
}

/// 64 hexadecimal digits as 32 bytes.
fn parse_sha256(hex: &str) -> Option<[u8; 32]> {
    let digits = hex.as_bytes();
    if digits.len() != 64 || !digits.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let mut sum = [0u8; 32];
    for (byte, pair) in sum.iter_mut().zip(digits.chunks_exact(2)) {
        let pair = std::str::from_utf8(pair).ok()?;
        *byte = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_index(dir: &Path, body: &str) {
        fs::create_dir_all(dir.join("voice")).unwrap();
        fs::write(dir.join(INDEX_FILE), body).unwrap();
    }

    #[test]
    fn the_index_is_read_with_comments_and_header() {
        let dir = tempfile::tempdir().unwrap();
        write_index(
            dir.path(),
            "# a comment\nkind\tkey\tfile\tstart\tlength\tduration_ms\thash\n\
             speech\tRound 2 of 3.\tvoice/banks/r.ogg\t0\t20110\t912\tab\n\
             speech\t  Press.  \tvoice/banks/r.ogg\t22315\t8820\t400\tcd\n\
             sound\ttick\ttick.ogg\t0\t992\t45\tef\n",
        );
        let pack = Pack::open(dir.path()).unwrap();
        assert_eq!(pack.len(), 2);
        assert_eq!(
            pack.entry("Round 2 of 3."),
            Some(&PackEntry {
                file: "voice/banks/r.ogg".into(),
                start: 0,
                length: 20_110,
                duration_ms: 912
            })
        );
        assert!(pack.entry("Press.").is_some(), "keys are trimmed");
        assert_eq!(pack.sound_entry(Sound::Tick).unwrap().duration_ms, 45);
        assert!(pack.sound_entry(Sound::Chime).is_none());
        assert_eq!(pack.key_for_loose("round 2 of 3"), Some("Round 2 of 3."));
    }

    #[test]
    fn a_bad_index_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        for (body, needle) in [
            ("speech\tx\tx.ogg\n", ":1: expected 7"),
            ("speech\tx\tx.ogg\t0\t10\tlong\th\n", ":1: duration `long`"),
            ("speech\tx\tx.ogg\t-1\t10\t1\th\n", ":1: start `-1`"),
            ("speech\tx\tx.ogg\t0\t0\t1\th\n", ":1: a clip of length 0"),
            ("# c\nnoise\tx\tx.ogg\t0\t10\t1\th\n", ":2: unknown kind"),
            ("sound\tgong\tg.ogg\t0\t10\t1\th\n", "unknown sound `gong`"),
            (
                "speech\tx\t../../etc/passwd\t0\t10\t1\th\n",
                "inside the pack",
            ),
            ("speech\tx\t/etc/passwd\t0\t10\t1\th\n", "inside the pack"),
        ] {
            write_index(dir.path(), body);
            let err = Pack::open(dir.path()).unwrap_err().to_string();
            assert!(err.contains(needle), "{err}");
            assert!(err.contains("index.tsv"), "{err}");
        }
        let missing = tempfile::tempdir().unwrap();
        assert!(matches!(
            Pack::open(missing.path()),
            Err(PackError::Read { .. })
        ));
    }

    #[test]
    fn clips_are_cut_from_their_bank() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("voice")).unwrap();
        // a bank: 300 ms at 440 Hz, 100 ms of silence, 200 ms at 880 Hz
        let rate = crate::clip::SESSION_RATE;
        let low = Clip::tone(440.0, 300, rate);
        let high = Clip::tone(880.0, 200, rate);
        let bank = Clip::joined(&[low.clone(), high.clone()], &[100], rate);
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(dir.path().join("voice/bank.wav"), spec).unwrap();
        for s in bank.samples.iter() {
            w.write_sample((s * 32_000.0) as i16).unwrap();
        }
        w.finalize().unwrap();
        let start_high = low.samples.len() + 2_205;
        let index = format!(
            "speech\tlow\tvoice/bank.wav\t0\t{}\t300\th\n\
             speech\thigh\tvoice/bank.wav\t{start_high}\t{}\t200\th\n\
             speech\tpast the end\tvoice/bank.wav\t{start_high}\t99999\t200\th\n",
            low.samples.len(),
            high.samples.len()
        );
        fs::write(dir.path().join(INDEX_FILE), index).unwrap();
        let pack = Pack::open(dir.path()).unwrap();
        let crossings = |c: &Clip| {
            c.samples
                .windows(2)
                .filter(|w| (w[0] < 0.0) != (w[1] < 0.0))
                .count()
        };
        let got_low = pack.load("low").unwrap().unwrap();
        let got_high = pack.load("high").unwrap().unwrap();
        assert_eq!(got_low.duration_ms(), 300);
        assert_eq!(got_high.duration_ms(), 200);
        // 440 Hz for 0.3 s and 880 Hz for 0.2 s: about 264 and 352 crossings
        assert!(
            crossings(&got_low).abs_diff(264) <= 2,
            "{}",
            crossings(&got_low)
        );
        assert!(
            crossings(&got_high).abs_diff(352) <= 2,
            "{}",
            crossings(&got_high)
        );
        let err = pack.load("past the end").unwrap().unwrap_err().to_string();
        assert!(err.contains("99999 are wanted"), "{err}");
        assert!(err.contains("bank.wav"), "{err}");
        assert!(pack.load("not there").is_none());
        assert_eq!(pack.load("low").unwrap().unwrap(), got_low);

        // with checksums, a bank whose bytes changed is refused, not decoded
        let bank = dir.path().join("voice/bank.wav");
        let mut bytes = fs::read(&bank).unwrap();
        let sum: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        fs::write(
            dir.path().join(SUMS_FILE),
            format!("{sum}  voice/bank.wav\n"),
        )
        .unwrap();
        let pack = Pack::open(dir.path()).unwrap();
        assert!(pack.has_checksums());
        assert_eq!(pack.load("high").unwrap().unwrap(), got_high);
        // one sample deep inside the bank, far from both clips' starts
        let at = bytes.len() - 1_000;
        bytes[at] ^= 0x40;
        fs::write(&bank, &bytes).unwrap();
        for key in ["low", "high"] {
            let err = pack.load(key).unwrap().unwrap_err().to_string();
            assert!(err.contains("do not match its checksum"), "{err}");
            assert!(err.contains("bank.wav"), "{err}");
        }
    }

    #[test]
    fn a_bad_checksum_line_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        write_index(dir.path(), "sound\ttick\ttick.ogg\t0\t992\t45\tef\n");
        for (body, needle) in [
            ("# sums\nabc  tick.ogg\n", ":2: `abc` is not a SHA-256"),
            (&format!("{}  tick.ogg\n", "+f".repeat(32)), ":1: `+f"),
            ("0123 tick.ogg\n", ":1: expected `SHA-256  file`"),
        ] {
            fs::write(dir.path().join(SUMS_FILE), body).unwrap();
            let err = Pack::open(dir.path()).unwrap_err().to_string();
            assert!(err.contains(needle), "{err}");
            assert!(err.contains("files.sha256"), "{err}");
        }
        fs::remove_file(dir.path().join(SUMS_FILE)).unwrap();
        assert!(!Pack::open(dir.path()).unwrap().has_checksums());
    }

    #[test]
    fn the_plainer_phrase_stands_for_a_word() {
        let mut pack = Pack::empty();
        for key in ["3.", "3", "Resuming:", "Resuming."] {
            pack.add_word(key);
        }
        assert_eq!(pack.key_for_loose("3"), Some("3"));
        assert_eq!(pack.key_for_loose("resuming"), Some("Resuming."));
    }
}
