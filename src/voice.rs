//! Phrase → clip: what the voice says for every cue, and how long it takes.
//!
//! A phrase is resolved, in order, from:
//! 1. the bundled voice pack (`sounds/`, see [`Pack`]), by its exact key
//!    ([`phrase_key`]);
//! 2. the on-disk cache of the text-to-speech command, keyed by a SHA-256 of
//!    the phrase and the command template;
//! 3. the text-to-speech command itself (see [`TtsEngine`]), whose output
//!    is checked and then cached;
//! 4. pack clips joined into the phrase ("Resuming: deep stroking, 7 of
//!    15." from "Resuming.", "deep stroking", "7", "of", "15"); a phrase
//!    with a number is joined before the command is tried, so that a
//!    numbered phrase the pack lacks keeps the pack's voice;
//! 5. a gentle stand-in tone, with a warning.
//!
//! A cue is never silent. Damaged pack or cache files are reported and
//! passed over (a damaged cache file is deleted and rendered again).
//!
//! The planner needs every clip's real length before it can plan, so a
//! session starts with [`Voice::prepare`], which resolves every phrase the
//! routine can produce, rendering missing ones in parallel. [`Voice`] then
//! answers [`ClipLengths`] from the resolved clips.
//!
//! The text-to-speech command is configured in `[voice] command`; the
//! default runs espeak-ng. For a natural voice, piper (see `sounds/README.md`
//! for installing it) reads the phrase from its standard input, so its
//! template has no `{text}`:
//! `["piper", "-m", "/path/to/voice.onnx", "--length-scale", "1.1", "-f", "{out}"]`.

mod compose;
mod natural;
mod pack;
mod phrase;
mod tts;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use crate::clip::{Clip, SESSION_RATE};
use crate::config::VoiceConfig;
use crate::ms::Ms;
use crate::paths::Paths;
use crate::speech::{ClipLengths, Sound};

pub use compose::{PAUSE_GAP_MS, WORD_GAP_MS};
pub use natural::{BatchReport, KOKORO_VAR, Natural, SPEAKER, SPEED_RANGE};
pub use pack::{INDEX_FILE, Pack, PackEntry, PackError};
pub use phrase::phrase_key;
pub use tts::{TtsEngine, TtsError};

/// Single words the pack holds so that the player can join phrases it
/// lacks from pack clips ("Session 31 of 40." from "Session", "31", "of"
/// and "40"): `massage-cue phrases` lists them with the stock phrases.
pub const COMPOSE_WORDS: [&str; 12] = [
    "About", "Round", "Session", "and", "left", "minute", "minutes", "right", "second", "seconds",
    "side", "times",
];

pub use crate::paths::SOUNDS_VAR;
/// How long one phrase may take to render, unless configured.
pub const DEFAULT_TTS_TIMEOUT: Duration = Duration::from_secs(10);
/// The speech level (gated RMS) the fallback command's phrases are brought
/// to.
const SPEECH_LEVEL_DBFS: f32 = -21.0;
/// The natural voice's phrases: the gated RMS its pack clips have at the
/// pack's -20 LUFS (median of the clips; see `sounds/README.md`).
const NATURAL_LEVEL_DBFS: f32 = -19.3;
/// After this many failures in a row the command is not tried again by
/// this voice: each failure may cost a whole timeout.
const MAX_ENGINE_FAILURES: usize = 3;

/// Where a phrase's clip came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// The bundled voice pack.
    Pack,
    /// The natural voice, from its cache or rendered just now.
    Natural,
    /// The text-to-speech cache on disk.
    Cache,
    /// Rendered just now by the text-to-speech command.
    Engine,
    /// Joined from pack clips.
    Composed,
    /// A stand-in tone: nothing else could say it.
    Tone,
}

/// A phrase's clip, at the voice's rate, and where it came from.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub clip: Clip,
    pub source: Source,
}

/// How many phrases [`Voice::prepare`] found in each source.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PrepareReport {
    pub pack: usize,
    pub natural: usize,
    pub cache: usize,
    pub engine: usize,
    pub composed: usize,
    pub tone: usize,
}

/// How far [`Voice::prepare_with`] has got, read from another thread while
/// it works; and a way to tell it to stop taking new phrases.
#[derive(Debug, Default)]
pub struct Progress {
    total: AtomicUsize,
    done: AtomicUsize,
    cancelled: AtomicBool,
}

impl Progress {
    /// Phrases ready so far, and how many there are to ready (0 until
    /// they are known).
    pub fn counts(&self) -> (usize, usize) {
        (
            self.done.load(Ordering::Relaxed),
            self.total.load(Ordering::Relaxed),
        )
    }

    /// Stops the preparation at the next phrase: those not begun are left
    /// unresolved (a phrase being rendered finishes, or times out).
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }
}

/// Where a voice finds its clips.
#[derive(Debug, Clone)]
pub struct VoiceSettings {
    /// The `sounds/` folder holding the voice pack; `None` for no pack.
    pub sounds_dir: Option<PathBuf>,
    /// Where rendered phrases are cached; `None` turns the text-to-speech
    /// command off (it needs somewhere to write).
    pub cache_dir: Option<PathBuf>,
    /// The text-to-speech command template; empty for none.
    pub command: Vec<String>,
    /// How long one phrase may take to render.
    pub timeout: Duration,
    /// The sample rate every clip is brought to.
    pub rate: u32,
    /// The natural voice for phrases the pack lacks (the pack's own), and
    /// its speed; or why there is none. The `command` is the fallback.
    pub natural: Result<(Natural, f64), String>,
}

impl VoiceSettings {
    /// The settings of the configuration: the pack from [`locate_sounds`],
    /// the cache in `speech/` under the cache folder.
    pub fn from_config(voice: &VoiceConfig, paths: &Paths) -> VoiceSettings {
        VoiceSettings {
            sounds_dir: locate_sounds(paths),
            cache_dir: Some(paths.cache_dir.join("speech")),
            command: voice.command.clone(),
            timeout: Duration::from_millis(voice.timeout),
            rate: SESSION_RATE,
            natural: if voice.natural {
                Natural::locate().map(|n| (n, voice.speed))
            } else {
                Err("turned off in the configuration ([voice] natural = false)".into())
            },
        }
    }
}

/// Says phrases: resolves each to a clip (see the module documentation) and
/// remembers it, so a phrase is decoded or rendered once per voice. Shared
/// between threads by reference.
pub struct Voice {
    rate: u32,
    pack: Pack,
    engine: Option<TtsEngine>,
    natural: Option<(Natural, TtsEngine, f64)>,
    /// Why there is no natural voice, when there is none.
    natural_missing: Option<String>,
    /// Whether a phrase that is not cached may be rendered by the natural
    /// voice on the spot (slow: seconds a phrase), or goes to the fallback.
    natural_renders: AtomicBool,
    failures: AtomicUsize,
    engine_off: AtomicBool,
    phrases: Mutex<HashMap<String, Resolved>>,
    sounds: Mutex<HashMap<Sound, Clip>>,
}

impl Voice {
    /// A voice with these settings. Never fails: a pack that cannot be read
    /// is reported and left out, and the other sources still answer.
    pub fn new(settings: VoiceSettings) -> Voice {
        let pack = match &settings.sounds_dir {
            Some(dir) => match Pack::open(dir) {
                Ok(pack) => pack,
                Err(err) => {
                    tracing::warn!("{err}; speaking without the voice pack");
                    Pack::empty()
                }
            },
            None => {
                tracing::warn!(
                    "no voice pack found (set {SOUNDS_VAR} to the sounds folder); speaking without it"
                );
                Pack::empty()
            }
        };
        let engine = match (&settings.cache_dir, settings.command.is_empty()) {
            (Some(dir), false) => Some(TtsEngine::new(
                settings.command.clone(),
                dir.clone(),
                settings.timeout,
            )),
            _ => None,
        };
        let mut voice = Voice::from_parts(pack, engine, settings.rate);
        match (settings.natural, &settings.cache_dir) {
            (Ok((natural, speed)), Some(dir)) => {
                let engine = natural.engine(speed, dir.clone());
                voice.natural = Some((natural, engine, speed));
            }
            (Ok(_), None) => voice.natural_missing = Some("no cache folder to keep it in".into()),
            (Err(why), _) => voice.natural_missing = Some(why),
        }
        voice
    }

    /// A voice from an already opened pack and an optional engine.
    pub fn from_parts(pack: Pack, engine: Option<TtsEngine>, rate: u32) -> Voice {
        Voice {
            rate: if rate == 0 { SESSION_RATE } else { rate },
            pack,
            engine,
            natural: None,
            natural_missing: None,
            natural_renders: AtomicBool::new(false),
            failures: AtomicUsize::new(0),
            engine_off: AtomicBool::new(false),
            phrases: Mutex::new(HashMap::new()),
            sounds: Mutex::new(HashMap::new()),
        }
    }

    /// The sample rate of every clip this voice gives.
    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// The voice pack in use.
    pub fn pack(&self) -> &Pack {
        &self.pack
    }

    /// The natural voice, when it is installed.
    pub fn natural(&self) -> Option<&Natural> {
        self.natural.as_ref().map(|(n, _, _)| n)
    }

    /// Lets phrases that are not cached be rendered by the natural voice on
    /// the spot (as `say` and `render` do), instead of by the fallback
    /// command. Off by default: a session's new phrases are prepared ahead
    /// ([`Voice::prepare_natural`]).
    pub fn set_natural_renders(&self, on: bool) {
        self.natural_renders.store(on, Ordering::Relaxed);
    }

    /// Which voice speaks, in a line: the pack's, and what new phrases get.
    pub fn describe(&self) -> String {
        let pack = if self.pack.is_empty() {
            "no voice pack".to_string()
        } else {
            format!("voice pack ({} phrases)", self.pack.len())
        };
        let fallback = match &self.engine {
            Some(engine) => engine.program().to_string(),
            None => "no fallback command".into(),
        };
        match (&self.natural, &self.natural_missing) {
            (Some((_, _, speed)), _) => format!(
                "Kokoro {SPEAKER}: {pack} and new phrases (speed {speed}); {fallback} for phrases not prepared"
            ),
            (None, why) => format!(
                "Kokoro {SPEAKER} for the {pack}; {fallback} for new phrases (natural voice: {})",
                why.as_deref().unwrap_or("not set up")
            ),
        }
    }

    /// The phrases of `phrases` that the natural voice has still to render
    /// (neither in the pack nor in its cache), without duplicates, in
    /// order. Empty when there is no natural voice.
    pub fn unprepared(&self, phrases: &[String]) -> Vec<String> {
        let Some((_, engine, _)) = &self.natural else {
            return Vec::new();
        };
        let mut seen = std::collections::HashSet::new();
        phrases
            .iter()
            .map(|p| phrase_key(p))
            .filter(|k| !k.is_empty() && self.pack.entry(k).is_none())
            .filter(|k| !engine.cache_path(k).exists())
            .filter(|k| seen.insert(k.clone()))
            .collect()
    }

    /// Why there is no natural voice, when there is none.
    pub fn natural_missing(&self) -> Option<&str> {
        self.natural_missing.as_deref()
    }

    /// How many distinct phrases of `phrases` the pack lacks.
    pub fn unprepared_by_pack(&self, phrases: &[String]) -> usize {
        let keys: std::collections::HashSet<String> = phrases
            .iter()
            .map(|p| phrase_key(p))
            .filter(|k| !k.is_empty() && self.pack.entry(k).is_none())
            .collect();
        keys.len()
    }

    /// The phrases of `phrases` that are in neither the pack nor any cache:
    /// what saying them now would have to render.
    pub fn new_phrases(&self, phrases: &[String]) -> Vec<String> {
        let mut seen = std::collections::HashSet::new();
        phrases
            .iter()
            .map(|p| phrase_key(p))
            .filter(|k| !k.is_empty() && self.pack.entry(k).is_none())
            .filter(|k| match &self.natural {
                Some((_, engine, _)) => !engine.cache_path(k).exists(),
                None => self
                    .engine
                    .as_ref()
                    .is_none_or(|e| !e.cache_path(k).exists()),
            })
            .filter(|k| seen.insert(k.clone()))
            .collect()
    }

    /// Renders the natural voice's missing phrases of `phrases` with one
    /// engine process, calling `progress(done, total)` after each; stops
    /// at `deadline`, leaving the rest (for the fallback voice).
    pub fn prepare_natural(
        &self,
        phrases: &[String],
        deadline: Option<std::time::Instant>,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<BatchReport, String> {
        let Some((natural, engine, speed)) = &self.natural else {
            return Err(self
                .natural_missing
                .clone()
                .unwrap_or_else(|| "no natural voice".into()));
        };
        let keys = self.unprepared(phrases);
        natural.render_many(engine, *speed, &keys, deadline, progress)
    }

    /// Lets go of every clip resolved so far (they are decoded or rendered
    /// again when next asked for), so that a long-running service keeps
    /// only the current session's clips in memory. A text-to-speech
    /// command given up on is tried again: it may have been fixed, or its
    /// disk given room, since.
    pub fn forget(&self) {
        lock(&self.phrases).clear();
        self.failures.store(0, Ordering::Relaxed);
        self.engine_off.store(false, Ordering::Relaxed);
    }

    /// The clip for `text`.
    pub fn clip(&self, text: &str) -> Clip {
        self.resolve(text).clip
    }

    /// The clip for `text` and where it came from; resolved once, then
    /// remembered.
    pub fn resolve(&self, text: &str) -> Resolved {
        let key = phrase_key(text);
        if let Some(found) = lock(&self.phrases).get(&key) {
            return found.clone();
        }
        let resolved = self.resolve_key(&key);
        lock(&self.phrases).entry(key).or_insert(resolved).clone()
    }

    fn resolve_key(&self, key: &str) -> Resolved {
        if key.is_empty() {
            tracing::warn!("asked to say an empty phrase; a tone stands in");
            return self.tone();
        }
        match self.pack.load(key) {
            Some(Ok(clip)) => return self.found(clip.resampled(self.rate), Source::Pack),
            Some(Err(err)) => tracing::warn!("voice pack clip for {key:?} is unusable: {err}"),
            None => {}
        }
        if let Some((_, natural, _)) = &self.natural {
            match natural.cached(key) {
                Some(Ok(clip)) => {
                    return self.found(self.rendered(&clip, NATURAL_LEVEL_DBFS), Source::Natural);
                }
                Some(Err(err)) => {
                    tracing::warn!("cached speech for {key:?} was damaged: {err}")
                }
                None => {}
            }
            if self.natural_renders.load(Ordering::Relaxed) {
                match natural.render(key) {
                    Ok(clip) => {
                        return self
                            .found(self.rendered(&clip, NATURAL_LEVEL_DBFS), Source::Natural);
                    }
                    Err(err) => tracing::warn!(
                        "the natural voice could not say {key:?}: {err}; the fallback voice says it"
                    ),
                }
            }
        }
        // a numbered phrase the pack lacks ("Session 31 of 40.") is joined
        // from the pack's own words and numbers, in the pack's voice,
        // rather than said by the fallback command in another
        if key.chars().any(|c| c.is_ascii_digit())
            && let Some(clip) = self.compose(key)
        {
            return self.found(clip, Source::Composed);
        }
        if let Some(engine) = &self.engine {
            match engine.cached(key) {
                Some(Ok(clip)) => {
                    return self.found(self.rendered(&clip, SPEECH_LEVEL_DBFS), Source::Cache);
                }
                Some(Err(err)) => {
                    tracing::warn!(
                        "cached speech for {key:?} was damaged and is rendered again: {err}"
                    )
                }
                None => {}
            }
            if !self.engine_off.load(Ordering::Relaxed) {
                match engine.render(key) {
                    Ok(clip) => {
                        self.failures.store(0, Ordering::Relaxed);
                        return self.found(self.rendered(&clip, SPEECH_LEVEL_DBFS), Source::Engine);
                    }
                    Err(err) => self.engine_failed(key, &err),
                }
            }
        }
        if let Some(clip) = self.compose(key) {
            return self.found(clip, Source::Composed);
        }
        tracing::warn!("no voice could say {key:?}; a tone stands in");
        self.tone()
    }

    fn found(&self, clip: Clip, source: Source) -> Resolved {
        Resolved { clip, source }
    }

    fn tone(&self) -> Resolved {
        Resolved {
            clip: Clip::stand_in_tone(self.rate),
            source: Source::Tone,
        }
    }

    /// An engine's clip made to match the pack: same rate, no silence at
    /// the ends, same speech level.
    fn rendered(&self, clip: &Clip, level_dbfs: f32) -> Clip {
        clip.resampled(self.rate).trimmed().leveled(level_dbfs)
    }

    fn engine_failed(&self, key: &str, err: &TtsError) {
        let failures = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
        if err.is_permanent() || failures >= MAX_ENGINE_FAILURES {
            if !self.engine_off.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    "text-to-speech for {key:?} failed: {err}; not using the command again this session"
                );
            }
        } else {
            tracing::warn!("text-to-speech for {key:?} failed: {err}");
        }
    }

    /// The phrase joined from pack clips, when every piece loads.
    fn compose(&self, key: &str) -> Option<Clip> {
        let pieces = compose::pieces(&self.pack, key)?;
        let mut clips = Vec::with_capacity(pieces.len());
        let mut gaps = Vec::with_capacity(pieces.len());
        for (piece, gap) in pieces {
            match self.pack.load(&piece)? {
                Ok(clip) => clips.push(clip),
                Err(err) => {
                    tracing::warn!("voice pack clip for {piece:?} is unusable: {err}");
                    return None;
                }
            }
            gaps.push(gap);
        }
        Some(Clip::joined(&clips, &gaps, self.rate))
    }

    /// The clip of a sound: the pack's tick or chime, or a stand-in made
    /// here when the pack has none (with a warning).
    pub fn sound(&self, sound: Sound) -> Clip {
        if let Some(clip) = lock(&self.sounds).get(&sound) {
            return clip.clone();
        }
        let clip = match self.pack.load_sound(sound) {
            Some(Ok(clip)) => clip.resampled(self.rate),
            other => {
                if let Some(Err(err)) = other {
                    tracing::warn!("voice pack {sound:?} is unusable: {err}");
                } else {
                    tracing::warn!("the voice pack has no {sound:?}; a made-up one stands in");
                }
                match sound {
                    Sound::Tick => Clip::stand_in_tick(self.rate),
                    Sound::Chime => Clip::stand_in_chime(self.rate),
                }
            }
        };
        lock(&self.sounds).entry(sound).or_insert(clip).clone()
    }

    /// Resolves every phrase up front (and the tick and the chime), using
    /// as many threads as there are cores, so that rendering missing
    /// phrases overlaps and planning afterwards finds every length ready.
    pub fn prepare(&self, phrases: &[String]) -> PrepareReport {
        self.prepare_with(phrases, &Progress::default())
    }

    /// [`Voice::prepare`], counting each phrase made ready in `progress`
    /// and stopping early once it is cancelled.
    pub fn prepare_with(&self, phrases: &[String], progress: &Progress) -> PrepareReport {
        let mut keys: Vec<String> = phrases.iter().map(|p| phrase_key(p)).collect();
        keys.sort();
        keys.dedup();
        progress.total.store(keys.len(), Ordering::Relaxed);
        let workers = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .min(keys.len())
            .max(1);
        let next = AtomicUsize::new(0);
        let counts: Mutex<PrepareReport> = Mutex::new(PrepareReport::default());
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| {
                    loop {
                        if progress.is_cancelled() {
                            break;
                        }
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(key) = keys.get(i) else { break };
                        let source = self.resolve(key).source;
                        progress.done.fetch_add(1, Ordering::Relaxed);
                        let mut c = lock(&counts);
                        match source {
                            Source::Pack => c.pack += 1,
                            Source::Natural => c.natural += 1,
                            Source::Cache => c.cache += 1,
                            Source::Engine => c.engine += 1,
                            Source::Composed => c.composed += 1,
                            Source::Tone => c.tone += 1,
                        }
                    }
                });
            }
        });
        self.sound(Sound::Tick);
        self.sound(Sound::Chime);
        counts.into_inner().unwrap_or_else(|e| e.into_inner())
    }
}

impl std::fmt::Debug for Voice {
    // the resolved clips are far too long to print
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Voice")
            .field("rate", &self.rate)
            .field("pack", &self.pack)
            .field("engine", &self.engine)
            .field("engine_off", &self.engine_off.load(Ordering::Relaxed))
            .field("phrases", &lock(&self.phrases).len())
            .finish_non_exhaustive()
    }
}

impl Voice {
    /// Plans a session with the real length of every clip: the phrases the
    /// session will say (found by a first plan on estimated lengths) that
    /// the pack lacks are resolved up front, rendered in parallel; the
    /// pack's own phrases have their lengths in its index, so none of them
    /// is decoded before its clip is wanted.
    pub fn plan(
        &self,
        routine: &crate::routine::Routine,
        options: &crate::plan::Options,
    ) -> Result<crate::plan::Plan, crate::plan::PlanError> {
        self.plan_with(routine, options, &Progress::default())
    }

    /// [`Voice::plan`], its phrases counted in `progress` as they are made
    /// ready. Once `progress` is cancelled, the phrases left are not
    /// rendered; the plan made then is not meant to be played.
    pub fn plan_with(
        &self,
        routine: &crate::routine::Routine,
        options: &crate::plan::Options,
        progress: &Progress,
    ) -> Result<crate::plan::Plan, crate::plan::PlanError> {
        let draft = crate::plan::plan(routine, options, &crate::speech::Estimate)?;
        let phrases: Vec<String> = draft
            .cues
            .into_iter()
            .filter(|c| c.sound.is_none() && self.pack.entry(&phrase_key(&c.text)).is_none())
            .map(|c| c.text)
            .collect();
        self.prepare_with(&phrases, progress);
        if progress.is_cancelled() {
            return crate::plan::plan(routine, options, &crate::speech::Estimate);
        }
        crate::plan::plan(routine, options, self)
    }

    /// The clip a planned cue sounds.
    pub fn cue_clip(&self, cue: &crate::plan::Cue) -> Clip {
        match cue.sound {
            Some(sound) => self.sound(sound),
            None => self.clip(&cue.text),
        }
    }
}

impl ClipLengths for Voice {
    /// A phrase already resolved has its clip's length; a pack phrase not
    /// yet decoded has the length its index gives, so planning alone never
    /// decodes audio.
    fn speech_ms(&self, text: &str) -> Ms {
        let key = phrase_key(text);
        if let Some(found) = lock(&self.phrases).get(&key) {
            return found.clip.duration_ms();
        }
        if self.rate == SESSION_RATE
            && let Some(entry) = self.pack.entry(&key)
        {
            return entry.duration_ms;
        }
        self.clip(text).duration_ms()
    }

    fn sound_ms(&self, sound: Sound) -> Ms {
        self.sound(sound).duration_ms()
    }
}

/// A lock that a panicked holder did not spoil: the maps only ever gain
/// complete entries.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether `program` is an executable file in a `$PATH` folder.
pub fn on_path(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            std::fs::metadata(dir.join(program))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    })
}

/// Where the `sounds/` folder (the voice pack, the tick and the chime) is:
/// `$MASSAGE_CUE_SOUNDS` when it is set, used as given (so a wrong setting
/// shows up as a warning instead of another pack being used quietly);
/// otherwise the first data folder's `sounds/` that holds a voice index
/// (see [`Paths::sound_dirs`]). `None` when there is none.
pub fn locate_sounds(paths: &Paths) -> Option<PathBuf> {
    if let Some(dir) = &paths.sounds_var {
        return Some(dir.clone());
    }
    paths
        .sound_dirs()
        .into_iter()
        .find(|dir| dir.join(INDEX_FILE).is_file())
}

#[cfg(test)]
mod tests;
