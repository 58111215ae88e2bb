//! A clip: one mono sound, already decoded, ready to be played or rendered.
//!
//! Clips come from the voice pack (Ogg Vorbis), from a text-to-speech
//! command (WAV), or are made here (tones, silence). Every clip of a session
//! shares one sample rate, [`SESSION_RATE`]; [`Clip::resampled`] brings a
//! clip of another rate to it.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rodio::Source;
use thiserror::Error;

/// The sample rate of every clip in a session: the voice pack's native
/// rate (its engine renders at 22050 Hz), so pack clips need no resampling.
pub const SESSION_RATE: u32 = 22_050;

/// The longest sound a file may hold (10 minutes): a longer one is not a
/// spoken cue, and decoding it would take memory for nothing.
const MAX_DECODED_SECONDS: u64 = 600;

/// A mono sound at a sample rate. The samples are shared, so cloning a clip
/// is cheap and the same clip may be playing more than once.
#[derive(Debug, Clone, PartialEq)]
pub struct Clip {
    /// Samples per second.
    pub rate: u32,
    /// Mono samples in `-1.0..=1.0`.
    pub samples: Arc<[f32]>,
}

/// Why a sound file could not be made into a clip.
#[derive(Debug, Error)]
pub enum ClipError {
    #[error("cannot open {}: {source}", path.display())]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot decode {}: {reason}", path.display())]
    Decode { path: PathBuf, reason: String },
    #[error("{} holds no sound", path.display())]
    Empty { path: PathBuf },
    #[error("{} is longer than {MAX_DECODED_SECONDS} s; not a spoken cue", path.display())]
    TooLong { path: PathBuf },
}

impl Clip {
    /// A clip of `samples` at `rate`.
    pub fn new(rate: u32, samples: impl Into<Arc<[f32]>>) -> Clip {
        Clip {
            rate,
            samples: samples.into(),
        }
    }

    /// How long the clip lasts, in whole milliseconds (rounded up, so a
    /// clip never outlasts the slot the planner gives it).
    pub fn duration_ms(&self) -> u64 {
        if self.rate == 0 {
            return 0;
        }
        (self.samples.len() as u64 * 1000).div_ceil(u64::from(self.rate))
    }

    /// Whether the clip has no samples.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// The largest absolute sample.
    pub fn peak(&self) -> f32 {
        self.samples.iter().fold(0.0f32, |m, s| m.max(s.abs()))
    }

    /// Decodes a sound file (Ogg Vorbis or WAV) into a mono clip at the
    /// file's own rate; channels are averaged. A file that cannot be read,
    /// is not a sound, holds no samples or holds samples that are not
    /// numbers is an error, never a silent clip.
    pub fn decode_file(path: &Path) -> Result<Clip, ClipError> {
        let file = File::open(path).map_err(|source| ClipError::Open {
            path: path.to_owned(),
            source,
        })?;
        let decoder = rodio::Decoder::try_from(file).map_err(|e| ClipError::Decode {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        let channels = usize::from(decoder.channels().get());
        let rate = decoder.sample_rate().get();
        // The decoder may hand out the whole last codec block, past the end
        // the container marks (Ogg Vorbis end trimming); its own total
        // duration is exact, so the clip is cut there.
        let frames = decoder
            .total_duration()
            .map(|d| ((d.as_nanos() * u128::from(rate) + 500_000_000) / 1_000_000_000) as usize);
        let limit = (MAX_DECODED_SECONDS * u64::from(rate)) as usize * channels;
        let mut interleaved: Vec<f32> = Vec::new();
        for sample in decoder {
            if interleaved.len() >= limit {
                return Err(ClipError::TooLong {
                    path: path.to_owned(),
                });
            }
            if !sample.is_finite() {
                return Err(ClipError::Decode {
                    path: path.to_owned(),
                    reason: "a sample is not a number".to_string(),
                });
            }
            interleaved.push(sample);
        }
        let mut samples: Vec<f32> = if channels == 1 {
            interleaved
        } else {
            interleaved
                .chunks_exact(channels)
                .map(|frame| frame.iter().sum::<f32>() / channels as f32)
                .collect()
        };
        if let Some(frames) = frames.filter(|n| *n > 0) {
            samples.truncate(frames);
        }
        if samples.is_empty() {
            return Err(ClipError::Empty {
                path: path.to_owned(),
            });
        }
        Ok(Clip::new(rate, samples))
    }

    /// The `length` frames of the sound file at `path` that begin at frame
    /// `start`, mixed down to mono. The file is decoded as a stream and
    /// only the wanted frames are kept, so a clip cut from a long file of
    /// many phrases costs the memory of the clip alone. A file that ends
    /// before `start + length` is an error.
    pub fn decode_range(path: &Path, start: usize, length: usize) -> Result<Clip, ClipError> {
        let file = File::open(path).map_err(|source| ClipError::Open {
            path: path.to_owned(),
            source,
        })?;
        let decoder = rodio::Decoder::try_from(file).map_err(|e| ClipError::Decode {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        Clip::cut_while_decoding(decoder, path, start, length)
    }

    /// [`Clip::decode_range`] of a sound file already read into memory
    /// from `path`.
    pub fn decode_range_of(
        bytes: Vec<u8>,
        path: &Path,
        start: usize,
        length: usize,
    ) -> Result<Clip, ClipError> {
        let len = bytes.len() as u64;
        let decoder = rodio::Decoder::builder()
            .with_data(std::io::Cursor::new(bytes))
            .with_byte_len(len)
            .with_seekable(true)
            .build()
            .map_err(|e| ClipError::Decode {
                path: path.to_owned(),
                reason: e.to_string(),
            })?;
        Clip::cut_while_decoding(decoder, path, start, length)
    }

    /// Frames `start..start + length` of a decoder's stream, mixed down to
    /// mono.
    fn cut_while_decoding<R>(
        decoder: rodio::Decoder<R>,
        path: &Path,
        start: usize,
        length: usize,
    ) -> Result<Clip, ClipError>
    where
        R: std::io::Read + std::io::Seek + Send + Sync + 'static,
    {
        let decode_error = |reason: String| ClipError::Decode {
            path: path.to_owned(),
            reason,
        };
        let end = start
            .checked_add(length)
            .ok_or_else(|| decode_error(format!("no clip can start at frame {start}")))?;
        let channels = usize::from(decoder.channels().get());
        let rate = decoder.sample_rate().get();
        if end as u64 > MAX_DECODED_SECONDS * u64::from(rate) {
            return Err(ClipError::TooLong {
                path: path.to_owned(),
            });
        }
        let mut samples = Vec::with_capacity(length);
        let (mut frame, mut sum, mut in_frame) = (0usize, 0.0f32, 0usize);
        for sample in decoder {
            if !sample.is_finite() {
                return Err(decode_error("a sample is not a number".to_string()));
            }
            sum += sample;
            in_frame += 1;
            if in_frame < channels {
                continue;
            }
            if frame >= start {
                samples.push(sum / channels as f32);
            }
            frame += 1;
            (sum, in_frame) = (0.0, 0);
            if frame == end {
                return Ok(Clip::new(rate, samples));
            }
        }
        Err(decode_error(format!(
            "holds {frame} frames, but {length} are wanted from frame {start}; the file is damaged or its index stale"
        )))
    }

    /// This clip at another sample rate, by linear interpolation (plenty
    /// for speech between 16 and 48 kHz). The length keeps its duration.
    pub fn resampled(&self, rate: u32) -> Clip {
        if rate == self.rate || rate == 0 {
            return self.clone();
        }
        if self.rate == 0 || self.samples.is_empty() {
            // nothing to interpolate: only the label changes
            return Clip::new(rate, self.samples.clone());
        }
        let src = &self.samples;
        let out_len =
            ((src.len() as u128 * u128::from(rate)).div_ceil(u128::from(self.rate))) as usize;
        let step = f64::from(self.rate) / f64::from(rate);
        let last = src.len() - 1;
        let samples: Vec<f32> = (0..out_len)
            .map(|i| {
                let pos = i as f64 * step;
                let at = (pos as usize).min(last);
                let frac = (pos - at as f64) as f32;
                let next = src[(at + 1).min(last)];
                src[at] + (next - src[at]) * frac
            })
            .collect();
        Clip::new(rate, samples)
    }

    /// The clip without the quiet at either end: samples more than 40 dB
    /// under the peak (and under -60 dBFS) count as quiet, and 15 ms before
    /// and 35 ms after the sound are kept so soft onsets and tails stay.
    /// An all-quiet clip is returned as it is.
    pub fn trimmed(&self) -> Clip {
        let peak = self.peak();
        let threshold = (peak * 0.01).max(0.001);
        let first = self.samples.iter().position(|s| s.abs() > threshold);
        let last = self.samples.iter().rposition(|s| s.abs() > threshold);
        let (Some(first), Some(last)) = (first, last) else {
            return self.clone();
        };
        let lead = (self.rate as usize * 15) / 1000;
        let tail = (self.rate as usize * 35) / 1000;
        let start = first.saturating_sub(lead);
        let end = (last + 1 + tail).min(self.samples.len());
        Clip::new(self.rate, &self.samples[start..end])
    }

    /// The clip brought to a speech level of `target_dbfs` (RMS of its
    /// louder part), never letting the peak pass -1.5 dBFS. Silence stays
    /// silence.
    pub fn leveled(&self, target_dbfs: f32) -> Clip {
        let frame = (self.rate as usize / 50).max(1);
        let energies: Vec<f32> = self
            .samples
            .chunks(frame)
            .map(|c| c.iter().map(|s| s * s).sum::<f32>() / c.len() as f32)
            .collect();
        let loudest = energies.iter().copied().fold(0.0f32, f32::max);
        if loudest <= 0.0 {
            return self.clone();
        }
        // frames within 30 dB of the loudest: the speech, not its pauses
        let gate = loudest * 1e-3;
        let loud: Vec<f32> = energies.into_iter().filter(|e| *e > gate).collect();
        let rms = (loud.iter().sum::<f32>() / loud.len() as f32).sqrt();
        let mut gain = 10f32.powf(target_dbfs / 20.0) / rms;
        let ceiling = 10f32.powf(-1.5 / 20.0);
        gain = gain.min(ceiling / self.peak());
        Clip::new(
            self.rate,
            self.samples.iter().map(|s| s * gain).collect::<Vec<_>>(),
        )
    }

    /// `ms` milliseconds of silence at `rate`.
    pub fn silence(ms: u64, rate: u32) -> Clip {
        let len = (ms * u64::from(rate) / 1000) as usize;
        Clip::new(rate, vec![0.0; len])
    }

    /// The clips one after another, each followed by the matching gap of
    /// silence (`gaps_ms[i]` after `clips[i]`; missing gaps are 0), all at
    /// `rate`.
    pub fn joined(clips: &[Clip], gaps_ms: &[u64], rate: u32) -> Clip {
        let mut samples = Vec::new();
        for (i, clip) in clips.iter().enumerate() {
            samples.extend_from_slice(&clip.resampled(rate).samples);
            let gap = gaps_ms.get(i).copied().unwrap_or(0);
            samples.resize(samples.len() + (gap * u64::from(rate) / 1000) as usize, 0.0);
        }
        Clip::new(rate, samples)
    }

    /// A sine tone of `freq` Hz lasting `ms` milliseconds at `rate`, at half
    /// of full scale with 5 ms fades so it starts and ends without a click.
    /// The stand-in sound where no voice is available, and a test signal.
    pub fn tone(freq: f32, ms: u64, rate: u32) -> Clip {
        Clip::soft_tone(freq, ms, rate, 0.5, 5)
    }

    /// A sine tone at `amplitude` with `fade_ms` fades at either end.
    fn soft_tone(freq: f32, ms: u64, rate: u32, amplitude: f32, fade_ms: u64) -> Clip {
        let len = (ms * u64::from(rate) / 1000) as usize;
        let fade = ((u64::from(rate) * fade_ms / 1000) as usize).clamp(1, len.max(1));
        let step = std::f64::consts::TAU * f64::from(freq) / f64::from(rate);
        let samples: Vec<f32> = (0..len)
            .map(|i| {
                let edge = i.min(len - 1 - i);
                let gain = if edge < fade {
                    edge as f32 / fade as f32
                } else {
                    1.0
                };
                // the phase in f64 keeps long tones in tune
                amplitude * gain * (i as f64 * step).sin() as f32
            })
            .collect();
        Clip::new(rate, samples)
    }

    /// What sounds when no voice can say a phrase: a gentle two-note
    /// tone, 400 ms, well under the level of speech, so a cue is never
    /// silent yet never startles.
    pub fn stand_in_tone(rate: u32) -> Clip {
        let low = Clip::soft_tone(523.25, 180, rate, 0.15, 30);
        let high = Clip::soft_tone(659.26, 180, rate, 0.12, 40);
        Clip::joined(&[low, high], &[40], rate)
    }

    /// The sound that says a spoken command was heard: two soft rising
    /// notes, 160 ms, quieter than the stand-in tone.
    pub fn earcon(rate: u32) -> Clip {
        let low = Clip::soft_tone(659.26, 70, rate, 0.1, 15);
        let high = Clip::soft_tone(880.0, 70, rate, 0.08, 20);
        Clip::joined(&[low, high], &[20], rate)
    }

    /// A soft, short, low click, for when the pack's tick is missing.
    pub fn stand_in_tick(rate: u32) -> Clip {
        let len = (u64::from(rate) * 40 / 1000) as usize;
        let samples: Vec<f32> = (0..len)
            .map(|i| {
                let t = i as f32 / rate as f32;
                0.2 * (std::f32::consts::TAU * 520.0 * t).sin() * (-t / 0.008).exp()
            })
            .collect();
        Clip::new(rate, samples)
    }

    /// A soft bell of 1.8 s, for when the pack's chime is missing.
    pub fn stand_in_chime(rate: u32) -> Clip {
        let len = (u64::from(rate) * 1800 / 1000) as usize;
        let partials = [
            (1.0f32, 1.0f32, 0.9f32),
            (2.0, 0.35, 0.55),
            (2.76, 0.18, 0.35),
        ];
        let fade_out = (rate as usize / 4).min(len);
        let samples: Vec<f32> = (0..len)
            .map(|i| {
                let t = i as f32 / rate as f32;
                let ring: f32 = partials
                    .iter()
                    .map(|(ratio, amp, tau)| {
                        amp * (std::f32::consts::TAU * 587.33 * ratio * t).sin() * (-t / tau).exp()
                    })
                    .sum();
                let attack = (t / 0.006).min(1.0);
                let release = ((len - i) as f32 / fade_out as f32).min(1.0);
                0.2 * ring * attack * release
            })
            .collect();
        Clip::new(rate, samples)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_wav(path: &Path, rate: u32, channels: u16, samples: &[i16]) {
        let spec = hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(path, spec).unwrap();
        for s in samples {
            w.write_sample(*s).unwrap();
        }
        w.finalize().unwrap();
    }

    #[test]
    fn a_tone_lasts_what_was_asked() {
        let t = Clip::tone(1000.0, 250, 48_000);
        assert_eq!(t.samples.len(), 12_000);
        assert_eq!(t.duration_ms(), 250);
        let peak = t.peak();
        assert!((0.45..=0.5).contains(&peak), "peak {peak}");
        assert!(t.samples[0].abs() < 1e-6);
    }

    #[test]
    fn duration_rounds_up() {
        let c = Clip {
            rate: 22_050,
            samples: vec![0.0; 100].into(),
        };
        assert_eq!(c.duration_ms(), 5);
        assert_eq!(Clip::new(0, vec![0.0; 10]).duration_ms(), 0);
    }

    #[test]
    fn a_wav_decodes_to_mono_at_its_rate() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stereo.wav");
        // left loud, right silent: the mono mix is half of the left
        let frames: Vec<i16> = (0..16_000).flat_map(|_| [16_000i16, 0]).collect();
        write_wav(&path, 16_000, 2, &frames);
        let clip = Clip::decode_file(&path).unwrap();
        assert_eq!(clip.rate, 16_000);
        assert_eq!(clip.samples.len(), 16_000);
        assert_eq!(clip.duration_ms(), 1000);
        let expected = 16_000.0 / 32_768.0 / 2.0;
        assert!(
            (clip.samples[100] - expected).abs() < 1e-3,
            "{}",
            clip.samples[100]
        );
    }

    #[test]
    fn a_range_is_cut_from_a_file_as_it_decodes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ramp.wav");
        // stereo: the left channel counts frames, the right is silent
        let frames: Vec<i16> = (0..10_000i16).flat_map(|i| [i, 0]).collect();
        write_wav(&path, 16_000, 2, &frames);
        let clip = Clip::decode_range(&path, 2_500, 300).unwrap();
        assert_eq!(clip.rate, 16_000);
        assert_eq!(clip.samples.len(), 300);
        for (k, s) in clip.samples.iter().enumerate() {
            let want = (2_500 + k) as f32 / 32_768.0 / 2.0;
            assert!((s - want).abs() < 1e-6, "frame {k}: {s} vs {want}");
        }
        let whole = Clip::decode_range(&path, 0, 10_000).unwrap();
        assert_eq!(whole.samples.len(), 10_000);
        let err = Clip::decode_range(&path, 9_900, 101)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("holds 10000 frames, but 101 are wanted from frame 9900"),
            "{err}"
        );
        assert!(matches!(
            Clip::decode_range(&path, usize::MAX, 2),
            Err(ClipError::Decode { .. })
        ));
        assert!(matches!(
            Clip::decode_range(&dir.path().join("missing.ogg"), 0, 1),
            Err(ClipError::Open { .. })
        ));
    }

    #[test]
    fn broken_files_are_errors_not_silence() {
        let dir = tempfile::tempdir().unwrap();
        let garbage = dir.path().join("garbage.wav");
        std::fs::write(&garbage, b"this is not a sound file at all, only text").unwrap();
        assert!(matches!(
            Clip::decode_file(&garbage),
            Err(ClipError::Decode { .. })
        ));

        let empty = dir.path().join("empty.wav");
        write_wav(&empty, 22_050, 1, &[]);
        assert!(matches!(
            Clip::decode_file(&empty),
            Err(ClipError::Empty { .. }) | Err(ClipError::Decode { .. })
        ));

        let zero = dir.path().join("zero-bytes.ogg");
        std::fs::write(&zero, b"").unwrap();
        assert!(Clip::decode_file(&zero).is_err());

        let missing = dir.path().join("missing.ogg");
        assert!(matches!(
            Clip::decode_file(&missing),
            Err(ClipError::Open { .. })
        ));
    }

    #[test]
    fn resampling_keeps_duration_and_pitch() {
        let tone = Clip::tone(441.0, 500, 44_100);
        let down = tone.resampled(SESSION_RATE);
        assert_eq!(down.rate, SESSION_RATE);
        assert_eq!(down.duration_ms(), 500);
        // still 441 Hz: zero crossings per second are unchanged
        let crossings = |c: &Clip| {
            c.samples
                .windows(2)
                .filter(|w| (w[0] < 0.0) != (w[1] < 0.0))
                .count()
        };
        let (a, b) = (crossings(&tone) as i64, crossings(&down) as i64);
        assert!((a - b).abs() <= 2, "{a} vs {b}");
        let up = Clip::tone(300.0, 200, 16_000).resampled(48_000);
        assert_eq!(up.samples.len(), 9_600);
        // same rate: the very same samples
        let same = down.resampled(SESSION_RATE);
        assert!(Arc::ptr_eq(&same.samples, &down.samples));
        assert!(
            Clip::new(8_000, Vec::new())
                .resampled(SESSION_RATE)
                .is_empty()
        );
    }

    #[test]
    fn trimming_cuts_quiet_ends_only() {
        let rate = 10_000;
        let mut samples = vec![0.0f32; 5_000];
        samples.extend(Clip::tone(500.0, 300, rate).samples.iter());
        samples.extend(vec![0.0005f32; 5_000]);
        let clip = Clip::new(rate, samples);
        let trimmed = clip.trimmed();
        // 300 ms of tone, with at most 15 ms before and 35 ms after
        assert!(
            (300..=350).contains(&trimmed.duration_ms()),
            "{}",
            trimmed.duration_ms()
        );
        let silent = Clip::silence(100, rate);
        assert_eq!(silent.trimmed().samples.len(), silent.samples.len());
    }

    #[test]
    fn levelling_reaches_the_target_without_clipping() {
        let quiet = Clip::soft_tone(440.0, 500, 22_050, 0.01, 5);
        let loud = quiet.leveled(-20.0);
        let rms =
            (loud.samples.iter().map(|s| s * s).sum::<f32>() / loud.samples.len() as f32).sqrt();
        let db = 20.0 * rms.log10();
        assert!((db + 20.0).abs() < 1.0, "{db} dBFS");
        // a target that would clip is held at the ceiling
        let capped = quiet.leveled(0.0);
        assert!(capped.peak() <= 0.85, "{}", capped.peak());
        assert_eq!(
            Clip::silence(10, 8_000).leveled(-20.0),
            Clip::silence(10, 8_000)
        );
    }

    #[test]
    fn joined_clips_keep_their_gaps() {
        let a = Clip::tone(400.0, 100, 8_000);
        let b = Clip::tone(400.0, 200, 16_000);
        let j = Clip::joined(&[a, b], &[50], 8_000);
        assert_eq!(j.rate, 8_000);
        assert_eq!(j.duration_ms(), 350);
        // the gap is silent
        assert!(j.samples[800..1200].iter().all(|s| *s == 0.0));
    }

    #[test]
    fn stand_ins_are_audible_and_gentle() {
        for (clip, min_ms, max_ms) in [
            (Clip::stand_in_tone(SESSION_RATE), 300, 600),
            (Clip::stand_in_tick(SESSION_RATE), 20, 60),
            (Clip::stand_in_chime(SESSION_RATE), 1500, 2000),
            (Clip::earcon(SESSION_RATE), 100, 250),
        ] {
            let ms = clip.duration_ms();
            assert!((min_ms..=max_ms).contains(&ms), "{ms} ms");
            let peak = clip.peak();
            assert!(peak > 0.05 && peak < 0.5, "peak {peak}");
        }
    }
}
