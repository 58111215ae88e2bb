//! Music under the cues: a file or a folder of them, shuffled and looped,
//! decoded away from the sound thread, and its level under the cues (see
//! [`super::duck`]).
//!
//! - [`Playlist`] finds the files (Ogg Vorbis, FLAC, MP3, WAV) and
//!   [`Playlist::samples`] decodes them in a shuffled order, again and
//!   again, at the rate and channel count asked for.
//! - [`Music::start`] puts the music on an open [`super::AudioOut`], and
//!   the [`Music`] it returns tells it when each cue sounds and when the
//!   session pauses, resumes and ends.

use std::collections::VecDeque;
use std::num::NonZeroU16;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rodio::Source;
use rodio::source::UniformSourceIterator;
use tokio::time::Instant;

use super::duck::{
    DuckCursor, FADE_IN_MS, FADE_OUT_MS, Fader, PAUSE_FADE_MS, RESUME_FADE_MS, Span, duck_gain,
};
use super::{AudioError, AudioOut};

/// The file name endings read as music.
pub const EXTENSIONS: [&str; 5] = ["ogg", "oga", "flac", "mp3", "wav"];

/// The music's level between cues unless the configuration says otherwise:
/// a fraction of the files' own level, so that the voice stands out.
pub const DEFAULT_VOLUME: f64 = 0.3;

/// Why music cannot be played.
#[derive(Debug, thiserror::Error)]
pub enum MusicError {
    #[error("music: cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "music: {} holds no Ogg, FLAC, MP3 or WAV file (files ending .ogg, .oga, .flac, .mp3 or .wav)",
        path.display()
    )]
    NoFiles { path: PathBuf },
    #[error(
        "music: {} is not an Ogg, FLAC, MP3 or WAV file (its name must end .ogg, .oga, .flac, .mp3 or .wav)",
        path.display()
    )]
    NotMusic { path: PathBuf },
    #[error("music: the volume {0} is outside 0 to 1")]
    Volume(f64),
}

/// The music files of a file or folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Playlist {
    files: Vec<PathBuf>,
}

fn is_music(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

impl Playlist {
    /// The file at `path`, or the music files in the folder at `path` and
    /// its subfolders. Fails when there is none: no session starts with
    /// music that cannot play.
    pub fn find(path: &Path) -> Result<Playlist, MusicError> {
        let read = |source| MusicError::Read {
            path: path.to_owned(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(read)?;
        if !meta.is_dir() {
            if !is_music(path) {
                return Err(MusicError::NotMusic {
                    path: path.to_owned(),
                });
            }
            // it must at least be readable
            std::fs::File::open(path).map_err(read)?;
            return Ok(Playlist {
                files: vec![path.to_owned()],
            });
        }
        let mut files = Vec::new();
        let mut folders = vec![path.to_owned()];
        while let Some(folder) = folders.pop() {
            let entries = std::fs::read_dir(&folder).map_err(|source| MusicError::Read {
                path: folder.clone(),
                source,
            })?;
            for entry in entries.flatten() {
                let p = entry.path();
                match entry.file_type() {
                    Ok(t) if t.is_dir() => folders.push(p),
                    Ok(_) if is_music(&p) => files.push(p),
                    _ => {}
                }
            }
        }
        if files.is_empty() {
            return Err(MusicError::NoFiles {
                path: path.to_owned(),
            });
        }
        files.sort();
        Ok(Playlist { files })
    }

    /// The files, in name order.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// Every file decoded in turn at `rate` and `channels` (interleaved),
    /// in a shuffled order that is shuffled again at every pass, for ever.
    /// A file that cannot be decoded is skipped with a warning; the
    /// samples end only when no file can be.
    pub fn samples(&self, channels: u16, rate: u32, seed: u64) -> Samples {
        Samples {
            files: self.files.clone(),
            order: VecDeque::new(),
            rng: Rng(seed | 1),
            channels: NonZeroU16::new(channels).unwrap_or(NonZeroU16::MIN),
            rate: rodio::SampleRate::new(rate).unwrap_or(rodio::SampleRate::MIN),
            current: None,
            in_file: 0,
            pass_started: false,
            sounded: false,
            last: None,
        }
    }
}

/// A seed for a shuffle that differs from one session to the next.
pub fn fresh_seed() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0x9e37_79b9, |d| d.as_nanos() as u64)
        ^ u64::from(std::process::id()) << 32
}

/// A small generator for the shuffle (splitmix64): the order of the
/// tracks needs no more.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

type Decoded = UniformSourceIterator<OneSpan<rodio::Decoder<std::io::BufReader<std::fs::File>>>>;

/// A decoded file taken as one span at its first rate and channel count:
/// the Vorbis decoder reports an empty first span, which would end the
/// conversion to the output's rate before the first sample.
struct OneSpan<S>(S);

impl<S: Source> Iterator for OneSpan<S> {
    type Item = f32;

    fn next(&mut self) -> Option<f32> {
        self.0.next()
    }
}

impl<S: Source> Source for OneSpan<S> {
    fn current_span_len(&self) -> Option<usize> {
        None
    }

    fn channels(&self) -> rodio::ChannelCount {
        self.0.channels()
    }

    fn sample_rate(&self) -> rodio::SampleRate {
        self.0.sample_rate()
    }

    fn total_duration(&self) -> Option<Duration> {
        self.0.total_duration()
    }
}

/// The samples of a [`Playlist`]; see [`Playlist::samples`].
pub struct Samples {
    files: Vec<PathBuf>,
    order: VecDeque<usize>,
    rng: Rng,
    channels: NonZeroU16,
    rate: rodio::SampleRate,
    current: Option<Decoded>,
    /// Samples given from the current file.
    in_file: u64,
    /// Whether a pass over the files has begun, and whether any of its
    /// files gave sound: a pass with none ends the music.
    pass_started: bool,
    sounded: bool,
    /// The file played last, not to be played twice running.
    last: Option<usize>,
}

impl std::fmt::Debug for Samples {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Samples")
            .field("files", &self.files.len())
            .field("channels", &self.channels)
            .field("rate", &self.rate)
            .finish_non_exhaustive()
    }
}

impl Samples {
    /// The next file to play, opened; `None` when a whole pass over the
    /// files gave no sound.
    fn open_next(&mut self) -> Option<Decoded> {
        loop {
            if self.order.is_empty() {
                if self.pass_started && !self.sounded {
                    return None;
                }
                self.shuffle();
                self.pass_started = true;
                self.sounded = false;
            }
            let i = self.order.pop_front()?;
            let path = &self.files[i];
            match std::fs::File::open(path)
                .map_err(|e| e.to_string())
                .and_then(|f| rodio::Decoder::try_from(f).map_err(|e| e.to_string()))
            {
                Ok(decoder) => {
                    tracing::debug!(file = %path.display(), "music: playing");
                    self.last = Some(i);
                    return Some(UniformSourceIterator::new(
                        OneSpan(decoder),
                        self.channels,
                        self.rate,
                    ));
                }
                Err(err) => {
                    tracing::warn!(file = %path.display(), "music: skipped a file that cannot be decoded: {err}");
                }
            }
        }
    }

    /// A new order of every file; the file just played does not come first.
    fn shuffle(&mut self) {
        let mut order: Vec<usize> = (0..self.files.len()).collect();
        for i in (1..order.len()).rev() {
            order.swap(i, self.rng.below(i + 1));
        }
        if order.len() > 1 && order.first() == self.last.as_ref() {
            order.swap(0, 1);
        }
        self.order = order.into();
    }
}

impl Iterator for Samples {
    type Item = f32;

    fn next(&mut self) -> Option<f32> {
        loop {
            if let Some(track) = &mut self.current {
                if let Some(s) = track.next() {
                    self.in_file += 1;
                    return Some(s);
                }
                // keep the channels in step: a track that ends mid-frame
                // is padded to the frame's end
                if !self.in_file.is_multiple_of(u64::from(self.channels.get())) {
                    self.in_file += 1;
                    return Some(0.0);
                }
                self.current = None;
                if self.in_file > 0 {
                    self.sounded = true;
                } else {
                    tracing::warn!("music: a file held no sound");
                }
            }
            self.in_file = 0;
            self.current = Some(self.open_next()?);
        }
    }
}

/// Frames of decoded music per chunk handed to the sound thread.
const CHUNK_MS: u64 = 100;
/// Chunks decoded ahead: enough for a busy machine's hiccup.
const CHUNKS_AHEAD: usize = 8;

/// What the session tells the music, in ms on the music's timeline.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Command {
    Duck(Span),
    Pause(f64),
    Resume(f64),
    End(f64),
}

/// The music of a session, playing on an output: tell it when each cue
/// sounds ([`Music::duck`]), and when the session pauses, resumes and ends.
/// Dropping it fades the music out at once.
#[derive(Debug)]
pub struct Music {
    zero: Instant,
    commands: mpsc::Sender<Command>,
}

impl Music {
    /// Starts `playlist` on `out` at `volume`, fading in from `at` on
    /// (normally now): decoding runs on a thread of its own, and the
    /// output's sound thread only mixes it in.
    pub fn start(
        playlist: &Playlist,
        volume: f64,
        out: &mut AudioOut,
        at: Instant,
        seed: u64,
    ) -> Result<Music, AudioError> {
        let channels = out.channels();
        let rate = out.rate();
        let samples = playlist.samples(channels, rate, seed);
        let chunk = (u64::from(rate) * CHUNK_MS / 1000) as usize * usize::from(channels);
        let (chunks_tx, chunks_rx) = mpsc::sync_channel::<Box<[f32]>>(CHUNKS_AHEAD);
        std::thread::Builder::new()
            .name("music".into())
            .spawn(move || decode(samples, chunk.max(1), &chunks_tx))
            .map_err(|err| AudioError::Open {
                detail: format!("could not start the music thread: {err}"),
            })?;
        let (commands, commands_rx) = mpsc::channel();
        let bed = Bed::new(chunks_rx, commands_rx, channels, rate, volume);
        out.play_source_at(bed, at)?;
        Ok(Music { zero: at, commands })
    }

    fn ms(&self, at: Instant) -> f64 {
        if at >= self.zero {
            (at - self.zero).as_secs_f64() * 1000.0
        } else {
            -((self.zero - at).as_secs_f64() * 1000.0)
        }
    }

    /// A clip of `len_ms` is due at `due` (on the same clock as the cues
    /// handed to the output): the music is lowered under it. Call it when
    /// the cue is handed over, ahead of its time, so that the music starts
    /// going down before the cue starts.
    pub fn duck(&self, due: Instant, len_ms: u64) {
        let start_ms = self.ms(due);
        let _ = self.commands.send(Command::Duck(Span {
            start_ms,
            end_ms: start_ms + len_ms as f64,
        }));
    }

    /// The session paused at `at`: the music falls silent and holds its
    /// place.
    pub fn pause(&self, at: Instant) {
        let _ = self.commands.send(Command::Pause(self.ms(at)));
    }

    /// The session resumed at `at`: the music comes back where it was.
    pub fn resume(&self, at: Instant) {
        let _ = self.commands.send(Command::Resume(self.ms(at)));
    }

    /// The session ended at `at`: the music fades out and stops.
    pub fn end(&self, at: Instant) {
        let _ = self.commands.send(Command::End(self.ms(at)));
    }
}

/// The music thread: decodes ahead into chunks until the music is let go
/// of or no file can be played.
fn decode(mut samples: Samples, chunk: usize, out: &mpsc::SyncSender<Box<[f32]>>) {
    loop {
        let block: Box<[f32]> = samples.by_ref().take(chunk).collect();
        if block.is_empty() {
            tracing::warn!("music: no file could be played; the session goes on without music");
            return;
        }
        if out.send(block).is_err() {
            return;
        }
    }
}

/// Playing or paused, as the sound thread sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Run {
    Playing,
    /// Fading to silence, then holding the track's place.
    Paused,
    /// Fading out for good.
    Ending,
}

/// The music as the output mixes it: the decoded samples times the level
/// of the fades and the ducks, frame by frame.
struct Bed {
    chunks: mpsc::Receiver<Box<[f32]>>,
    commands: mpsc::Receiver<Command>,
    chunk: Box<[f32]>,
    pos: usize,
    channels: usize,
    /// Frames produced; frame `f` is at `f / rate` s on the music's
    /// timeline.
    frame: u64,
    /// Sample within the frame.
    in_frame: usize,
    ms_per_frame: f64,
    volume: f64,
    fader: Fader,
    ducks: DuckCursor,
    /// Commands not yet due.
    pending: Vec<Command>,
    run: Run,
    /// The gain of the frame being produced.
    gain: f32,
    /// The largest change of gain from one frame to the next: a duck told
    /// late (a busy machine) is still not a jump.
    max_step: f32,
}

/// The shortest a change of level may take, whatever happens: a duck
/// asked for too late to ramp before its cue is ramped this fast instead.
const SLEW_MS: f64 = 10.0;

impl Bed {
    fn new(
        chunks: mpsc::Receiver<Box<[f32]>>,
        commands: mpsc::Receiver<Command>,
        channels: u16,
        rate: u32,
        volume: f64,
    ) -> Bed {
        let ms_per_frame = 1000.0 / f64::from(rate.max(1));
        let mut fader = Fader::at(0.0);
        fader.go(0.0, 1.0, FADE_IN_MS);
        Bed {
            chunks,
            commands,
            chunk: Box::new([]),
            pos: 0,
            channels: usize::from(channels.max(1)),
            frame: 0,
            in_frame: 0,
            ms_per_frame,
            volume,
            fader,
            ducks: DuckCursor::new(),
            pending: Vec::new(),
            run: Run::Playing,
            gain: 0.0,
            max_step: (ms_per_frame / SLEW_MS) as f32,
        }
    }

    /// Takes in the commands, applies those due by `t`; false once the
    /// music is over.
    fn update(&mut self, t: f64) -> bool {
        loop {
            match self.commands.try_recv() {
                Ok(Command::Duck(span)) => self.ducks.push(span),
                Ok(command) => self.pending.push(command),
                Err(mpsc::TryRecvError::Empty) => break,
                Err(mpsc::TryRecvError::Disconnected) => {
                    if self.run != Run::Ending {
                        self.run = Run::Ending;
                        self.pending.clear();
                        self.fader.go(t, 0.0, PAUSE_FADE_MS);
                    }
                    break;
                }
            }
        }
        let mut i = 0;
        while i < self.pending.len() {
            let at = match self.pending[i] {
                Command::Pause(at) | Command::Resume(at) | Command::End(at) => at,
                Command::Duck(_) => f64::NEG_INFINITY,
            };
            if at > t {
                i += 1;
                continue;
            }
            match self.pending.remove(i) {
                Command::Pause(_) if self.run == Run::Playing => {
                    self.run = Run::Paused;
                    self.fader.go(t, 0.0, PAUSE_FADE_MS);
                }
                Command::Resume(_) if self.run == Run::Paused => {
                    self.run = Run::Playing;
                    self.fader.go(t, 1.0, RESUME_FADE_MS);
                }
                Command::End(_) if self.run != Run::Ending => {
                    self.run = Run::Ending;
                    self.fader.go(t, 0.0, FADE_OUT_MS);
                }
                _ => {}
            }
        }
        !(self.run == Run::Ending && self.fader.settled(t))
    }

    /// The next decoded sample, or silence when decoding fell behind.
    fn decoded(&mut self) -> f32 {
        if self.pos >= self.chunk.len() {
            match self.chunks.try_recv() {
                Ok(chunk) => {
                    self.chunk = chunk;
                    self.pos = 0;
                }
                Err(_) => return 0.0,
            }
        }
        let s = self.chunk[self.pos];
        self.pos += 1;
        s
    }
}

impl Iterator for Bed {
    type Item = f32;

    fn next(&mut self) -> Option<f32> {
        if self.in_frame == 0 {
            let t = self.frame as f64 * self.ms_per_frame;
            if !self.update(t) {
                return None;
            }
            let target =
                (self.volume * self.fader.level(t) * duck_gain(self.ducks.amount(t))) as f32;
            self.gain += (target - self.gain).clamp(-self.max_step, self.max_step);
        }
        // paused and silent: the track holds its place
        let held = self.run == Run::Paused
            && self.gain == 0.0
            && self.fader.settled(self.frame as f64 * self.ms_per_frame);
        let sample = if held {
            0.0
        } else {
            self.decoded() * self.gain
        };
        self.in_frame += 1;
        if self.in_frame == self.channels {
            self.in_frame = 0;
            self.frame += 1;
        }
        Some(sample)
    }
}

impl std::fmt::Debug for Bed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bed")
            .field("frame", &self.frame)
            .field("run", &self.run)
            .finish_non_exhaustive()
    }
}

impl Source for Bed {
    fn current_span_len(&self) -> Option<usize> {
        None
    }

    fn channels(&self) -> rodio::ChannelCount {
        rodio::ChannelCount::new(self.channels as u16).unwrap_or(rodio::ChannelCount::MIN)
    }

    fn sample_rate(&self) -> rodio::SampleRate {
        rodio::SampleRate::new((1000.0 / self.ms_per_frame).round() as u32)
            .unwrap_or(rodio::SampleRate::MIN)
    }

    fn total_duration(&self) -> Option<Duration> {
        None
    }
}
