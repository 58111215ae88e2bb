//! The recogniser: CMU PocketSphinx with Debian's `pocketsphinx-en-us`
//! model, fed 16 kHz mono audio.
//!
//! Two decoders hear the same audio. One spots the command phrases
//! (keyword spotting, each phrase against a threshold); the other decodes
//! each stretch of speech (its voice activity detector says where one ends)
//! with a grammar of the command phrases. A stretch is a command when the
//! spotter found one in it; the grammar then says which (the spotter fires
//! on the first phrase that passes, which mixes up "next" and "back").
//!
//! The model's dictionary is large; only the lines of the words listened
//! for are given to the decoders, from memory (as are the phrase list and
//! the grammar): nothing is written to disk.

use std::collections::BTreeSet;
use std::io::{self, BufRead, BufReader};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use pocketsphinx::{CmdLn, PsDecoder};
use thiserror::Error;

use super::{Command, Heard, RATE, grammar, keyphrases, spotted_phrases, words};

/// Where Debian's `pocketsphinx-en-us` puts the US English model.
pub const MODEL_DIR: &str = "/usr/share/pocketsphinx/model/en-us";

/// The spotting threshold of a command phrase (the wake word and a
/// command): lower hears more, and more that was not said. Chosen on
/// generated speech, see docs/BENCHMARKS.md.
pub const THRESHOLD: f64 = 1e-30;

/// The threshold of "stop" alone, much stricter: one short word is found in
/// ordinary talk far more often than a phrase.
pub const STOP_THRESHOLD: f64 = 1e-10;

/// How much silence ends a stretch of speech, in 10 ms frames: a command
/// is acted on this long after it was said.
const POSTSPEECH_FRAMES: &str = "30";

/// A phrase spotted this long before a stretch of speech began belongs to
/// an earlier one.
const STALE_SAMPLES: u64 = RATE as u64;

/// Why the recogniser could not be made ready.
#[derive(Debug, Error)]
pub enum RecogniserError {
    #[error(
        "the speech model is not installed ({} is missing); install the Debian package pocketsphinx-en-us",
        .0.display()
    )]
    NoModel(PathBuf),
    #[error("cannot read the speech model's dictionary {}: {source}", path.display())]
    Dictionary { path: PathBuf, source: io::Error },
    #[error(
        "the word \"{0}\" is not in the speech model's dictionary; choose another `[listen] wake_word`"
    )]
    UnknownWord(String),
    #[error("cannot hold the recogniser's settings in memory: {0}")]
    Memory(io::Error),
    #[error("the speech recogniser could not start: {0}")]
    Decoder(String),
    #[error("the speech recogniser failed on the audio")]
    Decode,
}

/// One command heard, and where in the audio fed its speech ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Detection {
    pub heard: Heard,
    /// The sample (from the first fed) at which the stretch of speech was
    /// over: its end and the silence that ended it.
    pub at_sample: u64,
}

/// The two decoders and where they are in the audio.
pub struct Recogniser {
    spotter: PsDecoder,
    grammar: PsDecoder,
    wake: String,
    /// What was spotted since the stretch of speech began, with the sample
    /// at which each was.
    spotted: Vec<(Heard, u64)>,
    in_speech: bool,
    samples: u64,
    /// The settings given to the decoders, kept open while they live.
    _files: Vec<OwnedFd>,
}

impl std::fmt::Debug for Recogniser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recogniser")
            .field("wake", &self.wake)
            .field("samples", &self.samples)
            .finish_non_exhaustive()
    }
}

impl Recogniser {
    /// A recogniser listening for `wake` and the commands, with the model
    /// in [`MODEL_DIR`].
    pub fn new(wake: &str) -> Result<Recogniser, RecogniserError> {
        Recogniser::with_model(Path::new(MODEL_DIR), wake)
    }

    /// [`Recogniser::new`] with the model in `model`.
    pub fn with_model(model: &Path, wake: &str) -> Result<Recogniser, RecogniserError> {
        let wake = wake.to_ascii_lowercase();
        let hmm = model.join("en-us");
        let dictionary = model.join("cmudict-en-us.dict");
        for needed in [hmm.join("mdef"), dictionary.clone()] {
            if !needed.is_file() {
                return Err(RecogniserError::NoModel(needed));
            }
        }
        let dict = in_memory("dict", &dictionary_lines(&dictionary, &words(&wake))?)?;
        let kws = in_memory("kws", &keyphrases(&wake, THRESHOLD, STOP_THRESHOLD))?;
        let jsgf = in_memory("jsgf", &grammar(&wake))?;
        let hmm = hmm.to_string_lossy().into_owned();
        let dict_path = fd_path(&dict);
        // dither: silence of exact zeros (the gate's, a muted or virtual
        // microphone's) otherwise unsettles the decoders' running estimate
        // of the audio's level, and commands said after a long silence go
        // unheard; seeded, so that the same audio is heard the same way
        let common = [
            "-hmm",
            &hmm,
            "-dict",
            &dict_path,
            "-logfn",
            "/dev/null",
            "-dither",
            "yes",
            "-seed",
            "1",
        ];
        let spotter = decoder(&common, &["-kws", &fd_path(&kws)])?;
        let grammar = decoder(
            &common,
            &[
                "-jsgf",
                &fd_path(&jsgf),
                "-vad_postspeech",
                POSTSPEECH_FRAMES,
            ],
        )?;
        spotter
            .start_utt(None)
            .map_err(|_| RecogniserError::Decode)?;
        grammar
            .start_utt(None)
            .map_err(|_| RecogniserError::Decode)?;
        Ok(Recogniser {
            spotter,
            grammar,
            wake,
            spotted: Vec::new(),
            in_speech: false,
            samples: 0,
            _files: vec![dict, kws, jsgf],
        })
    }

    /// How many samples have been fed.
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// Hears the next stretch of audio (16 kHz mono); what was said in a
    /// stretch of speech that ended in it.
    pub fn feed(&mut self, audio: &[i16]) -> Result<Option<Detection>, RecogniserError> {
        if audio.is_empty() {
            return Ok(None);
        }
        self.spotter
            .process_raw(audio, false, false)
            .map_err(|_| RecogniserError::Decode)?;
        self.grammar
            .process_raw(audio, false, false)
            .map_err(|_| RecogniserError::Decode)?;
        self.samples += audio.len() as u64;
        if let Some((phrase, _, _)) = self.spotter.get_hyp()
            && !phrase.trim().is_empty()
        {
            tracing::debug!("spotted \"{}\" at sample {}", phrase.trim(), self.samples);
            // the spotter names every phrase it found since it last did
            for heard in spotted_phrases(&phrase, &self.wake) {
                self.spotted.push((heard, self.samples));
            }
            // spotting goes on from here
            self.spotter
                .end_utt()
                .map_err(|_| RecogniserError::Decode)?;
            self.spotter
                .start_utt(None)
                .map_err(|_| RecogniserError::Decode)?;
        }
        let in_speech = self.grammar.get_in_speech();
        let began = in_speech && !self.in_speech;
        let ended = !in_speech && self.in_speech;
        self.in_speech = in_speech;
        if began || ended {
            tracing::debug!(
                "speech {} at sample {}",
                if began { "began" } else { "ended" },
                self.samples
            );
        }
        if began {
            let since = self.samples.saturating_sub(STALE_SAMPLES);
            self.spotted.retain(|(_, at)| *at >= since);
        }
        if !ended {
            return Ok(None);
        }
        self.grammar
            .end_utt()
            .map_err(|_| RecogniserError::Decode)?;
        let said = self.grammar.get_hyp().map(|(hyp, _, _)| hyp);
        self.grammar
            .start_utt(None)
            .map_err(|_| RecogniserError::Decode)?;
        let spotted = std::mem::take(&mut self.spotted);
        tracing::debug!("the grammar heard {said:?}; spotted {spotted:?}");
        let heard = Recogniser::decide(&spotted, said.as_deref(), &self.wake);
        Ok(heard.map(|heard| Detection {
            heard,
            at_sample: self.samples,
        }))
    }

    /// What a stretch of speech was: a command when a command phrase was
    /// spotted in it (the grammar says which), a bare "stop" when only
    /// that was, otherwise nothing.
    fn decide(spotted: &[(Heard, u64)], said: Option<&str>, wake: &str) -> Option<Heard> {
        let first_command = spotted.iter().find_map(|(heard, _)| match heard {
            Heard::Command(command) => Some(*command),
            Heard::BareStop => None,
        });
        if let Some(spotted_command) = first_command {
            let command = said
                .and_then(|said| Command::parse(said, wake))
                .unwrap_or(spotted_command);
            return Some(Heard::Command(command));
        }
        spotted
            .iter()
            .any(|(heard, _)| *heard == Heard::BareStop)
            .then_some(Heard::BareStop)
    }
}

/// A decoder with `common` and `own` settings. The library's wrapper
/// panics when the library refuses the settings; that is caught here.
fn decoder(common: &[&str], own: &[&str]) -> Result<PsDecoder, RecogniserError> {
    let args: Vec<&str> = common.iter().chain(own).copied().collect();
    let config = CmdLn::init(true, &args)
        .map_err(|_| RecogniserError::Decoder(format!("settings refused: {}", args.join(" "))))?;
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| PsDecoder::init(config)))
        .map_err(|_| RecogniserError::Decoder("the model could not be loaded".into()))
}

/// The dictionary's lines for `words` (with their variants, "word(2)").
fn dictionary_lines(path: &Path, words: &[String]) -> Result<String, RecogniserError> {
    let file = std::fs::File::open(path).map_err(|source| RecogniserError::Dictionary {
        path: path.to_owned(),
        source,
    })?;
    let wanted: BTreeSet<&str> = words.iter().map(String::as_str).collect();
    let mut found = BTreeSet::new();
    let mut lines = String::new();
    for line in BufReader::new(file).lines() {
        let line = line.map_err(|source| RecogniserError::Dictionary {
            path: path.to_owned(),
            source,
        })?;
        let Some(head) = line.split_whitespace().next() else {
            continue;
        };
        let word = head.split('(').next().unwrap_or(head);
        if let Some(word) = wanted.get(word) {
            found.insert(*word);
            lines.push_str(&line);
            lines.push('\n');
        }
    }
    match wanted.difference(&found).next() {
        Some(missing) => Err(RecogniserError::UnknownWord((*missing).to_owned())),
        None => Ok(lines),
    }
}

/// `text` in an anonymous file in memory, for the library to open by path.
fn in_memory(name: &str, text: &str) -> Result<OwnedFd, RecogniserError> {
    use rustix::fs::{MemfdFlags, memfd_create};
    let fd =
        memfd_create(name, MemfdFlags::CLOEXEC).map_err(|e| RecogniserError::Memory(e.into()))?;
    let mut rest = text.as_bytes();
    while !rest.is_empty() {
        let n = rustix::io::write(&fd, rest).map_err(|e| RecogniserError::Memory(e.into()))?;
        rest = &rest[n..];
    }
    Ok(fd)
}

fn fd_path(fd: &OwnedFd) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}
