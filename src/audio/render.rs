//! Rendering a whole session to samples or a WAV file, without a device.
//!
//! Clip `c` starts at sample `c.at_ms * rate / 1000` exactly; overlapping
//! clips are summed and the sum is clamped to full scale. Long sessions are
//! mixed a block at a time, so writing a WAV needs little memory however
//! long the session.

use std::path::Path;

use super::AudioError;
use super::duck::{DuckCursor, Span, duck_gain, fade};
use super::encode::{Format, write_track};
use super::music::{Playlist, Samples};
use crate::clip::Clip;
use crate::ms::Ms;
use crate::plan::{Cue, Plan};

/// A clip at its offset on the timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct TimedClip {
    /// Offset from the session start.
    pub at_ms: Ms,
    /// What to play.
    pub clip: Clip,
    /// Index of the cue in [`crate::plan::Plan::cues`] this clip sounds.
    pub cue: usize,
}

/// Pairs every cue with its clip, in timeline order.
pub fn timeline(cues: &[Cue], mut clip_for: impl FnMut(&Cue) -> Clip) -> Vec<TimedClip> {
    let mut timed: Vec<TimedClip> = cues
        .iter()
        .enumerate()
        .map(|(cue, c)| TimedClip {
            at_ms: c.at_ms,
            clip: clip_for(c),
            cue,
        })
        .collect();
    // plans are sorted already; a stable sort keeps equal offsets in order
    timed.sort_by_key(|t| t.at_ms);
    timed
}

/// The rate used when there is no clip to take one from.
const FALLBACK_RATE: u32 = 48_000;

/// Samples written per block by [`write_wav`].
const BLOCK: usize = 1 << 16;

/// What [`render_to_file`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenderSummary {
    /// Sample rate of the file.
    pub rate: u32,
    /// Samples written (the file is mono).
    pub samples: u64,
    /// Clips placed.
    pub clips: usize,
}

impl RenderSummary {
    /// Length of the file in milliseconds.
    pub fn duration_ms(&self) -> Ms {
        self.samples * 1000 / u64::from(self.rate.max(1))
    }
}

/// Mixes every cue's clip into one mono track at `rate`, each starting at
/// its exact sample. The track lasts `plan.total_ms`, or longer if the last
/// clip rings on. Clips at another rate are resampled.
pub fn render(plan: &Plan, clip_for: impl FnMut(&Cue) -> Clip, rate: u32) -> Vec<f32> {
    render_timeline(&timeline(&plan.cues, clip_for), plan.total_ms, rate)
}

/// [`render`] for clips already paired with their offsets.
pub fn render_timeline(timeline: &[TimedClip], total_ms: Ms, rate: u32) -> Vec<f32> {
    let mut mix = Mixdown::new(timeline, total_ms, rate);
    let mut out = vec![0.0; mix.total as usize];
    mix.fill(&mut out);
    out
}

/// Renders the whole session to a 16-bit mono WAV at the clips' sample rate
/// (the highest, if they differ).
pub fn render_to_wav(
    plan: &Plan,
    clip_for: impl FnMut(&Cue) -> Clip,
    path: &Path,
) -> Result<RenderSummary, AudioError> {
    render_timeline_to_wav(&timeline(&plan.cues, clip_for), plan.total_ms, path)
}

/// [`render_to_wav`] for clips already paired with their offsets.
pub fn render_timeline_to_wav(
    timeline: &[TimedClip],
    total_ms: Ms,
    path: &Path,
) -> Result<RenderSummary, AudioError> {
    render_timeline_to_file(timeline, total_ms, path, Format::Wav, None)
}

/// Music mixed under a rendered session: ducked under every cue, faded in
/// at the start and out at the end (see [`super::duck`]).
#[derive(Debug, Clone)]
pub struct RenderMusic {
    pub playlist: Playlist,
    /// Its level between cues, 0 to 1 of the files' own.
    pub volume: f64,
    /// The shuffle's seed.
    pub seed: u64,
}

/// Renders the whole session to a mono file in `format` at the clips'
/// sample rate (the highest, if they differ), with `music` under the cues
/// if given: `massage-cue render`.
pub fn render_to_file(
    plan: &Plan,
    clip_for: impl FnMut(&Cue) -> Clip,
    path: &Path,
    format: Format,
    music: Option<&RenderMusic>,
) -> Result<RenderSummary, AudioError> {
    render_timeline_to_file(
        &timeline(&plan.cues, clip_for),
        plan.total_ms,
        path,
        format,
        music,
    )
}

/// [`render_to_file`] for clips already paired with their offsets.
pub fn render_timeline_to_file(
    timeline: &[TimedClip],
    total_ms: Ms,
    path: &Path,
    format: Format,
    music: Option<&RenderMusic>,
) -> Result<RenderSummary, AudioError> {
    let rate = timeline_rate(timeline);
    if rate == 0 {
        return Err(AudioError::ZeroRate);
    }
    let mut mix = Mixdown::new(timeline, total_ms, rate);
    if let Some(music) = music {
        mix.add_music(music);
    }
    let total = mix.total;
    write_track(path, format, rate, total, |block| mix.fill(block))?;
    Ok(RenderSummary {
        rate,
        samples: total,
        clips: timeline.len(),
    })
}

/// The rate a timeline renders at: its clips' (the highest, if they
/// differ).
fn timeline_rate(timeline: &[TimedClip]) -> u32 {
    timeline
        .iter()
        .map(|t| t.clip.rate)
        .max()
        .unwrap_or(FALLBACK_RATE)
}

/// [`render_timeline`] with `music` under the cues, in memory.
pub fn render_timeline_with_music(
    timeline: &[TimedClip],
    total_ms: Ms,
    rate: u32,
    music: &RenderMusic,
) -> Vec<f32> {
    let mut mix = Mixdown::new(timeline, total_ms, rate);
    mix.add_music(music);
    let mut out = vec![0.0; mix.total as usize];
    mix.fill(&mut out);
    out
}

/// Writes mono samples to a 16-bit WAV file, clamping to full scale.
pub fn write_wav(samples: &[f32], rate: u32, path: &Path) -> Result<(), AudioError> {
    let wav_error = |source| AudioError::Wav {
        path: path.to_owned(),
        source,
    };
    let mut writer = hound::WavWriter::create(path, wav_spec(rate)).map_err(wav_error)?;
    for chunk in samples.chunks(BLOCK) {
        let mut ints = writer.get_i16_writer(chunk.len() as u32);
        for &s in chunk {
            ints.write_sample(to_i16(s));
        }
        ints.flush().map_err(wav_error)?;
    }
    writer.finalize().map_err(wav_error)
}

fn wav_spec(rate: u32) -> hound::WavSpec {
    hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    }
}

fn to_i16(s: f32) -> i16 {
    (s.clamp(-1.0, 1.0) * f32::from(i16::MAX)).round() as i16
}

/// The sample at which a clip at `at_ms` starts.
fn start_sample(at_ms: Ms, rate: u32) -> u64 {
    at_ms * u64::from(rate) / 1000
}

/// Mixes a timeline block by block.
struct Mixdown<'a> {
    timeline: &'a [TimedClip],
    /// Next clip in `timeline` not yet started.
    next: usize,
    /// Clips overlapping the current block: their samples at the output
    /// rate and their first sample.
    active: Vec<(std::sync::Arc<[f32]>, u64)>,
    /// First sample of the next block.
    pos: u64,
    total: u64,
    rate: u32,
    music: Option<MusicMix>,
}

/// The music of a mixdown and where it stands.
struct MusicMix {
    samples: Samples,
    ducks: DuckCursor,
    volume: f64,
    /// The track's end, where the fade out ends (ms).
    end_ms: f64,
}

impl<'a> Mixdown<'a> {
    fn new(timeline: &'a [TimedClip], total_ms: Ms, rate: u32) -> Self {
        let rings_until = timeline
            .iter()
            .map(|t| start_sample(t.at_ms, rate) + resampled_len(&t.clip, rate))
            .max()
            .unwrap_or(0);
        Mixdown {
            timeline,
            next: 0,
            active: Vec::new(),
            pos: 0,
            total: start_sample(total_ms, rate).max(rings_until),
            rate,
            music: None,
        }
    }

    /// Mixes `music` under the cues, ducked under each clip.
    fn add_music(&mut self, music: &RenderMusic) {
        let mut ducks = DuckCursor::new();
        for t in self.timeline {
            let start_ms = t.at_ms as f64;
            let len_ms = resampled_len(&t.clip, self.rate) as f64 * 1000.0 / f64::from(self.rate);
            ducks.push(Span {
                start_ms,
                end_ms: start_ms + len_ms,
            });
        }
        self.music = Some(MusicMix {
            samples: music.playlist.samples(1, self.rate, music.seed),
            ducks,
            volume: music.volume,
            end_ms: self.total as f64 * 1000.0 / f64::from(self.rate),
        });
    }

    /// Adds the next `out.len()` samples of the mix into `out`, clamped.
    fn fill(&mut self, out: &mut [f32]) {
        let end = self.pos + out.len() as u64;
        while let Some(t) = self.timeline.get(self.next) {
            let start = start_sample(t.at_ms, self.rate);
            if start >= end {
                break;
            }
            self.active.push((resample(&t.clip, self.rate), start));
            self.next += 1;
        }
        for (samples, start) in &self.active {
            let from = self.pos.max(*start);
            let to = end.min(start + samples.len() as u64);
            for i in from..to {
                out[(i - self.pos) as usize] += samples[(i - start) as usize];
            }
        }
        self.active
            .retain(|(samples, start)| start + samples.len() as u64 > end);
        if let Some(music) = &mut self.music {
            let ms_per_sample = 1000.0 / f64::from(self.rate);
            for (i, s) in out.iter_mut().enumerate() {
                let t = (self.pos + i as u64) as f64 * ms_per_sample;
                let gain = music.volume * fade(t, music.end_ms) * duck_gain(music.ducks.amount(t));
                *s += music.samples.next().unwrap_or(0.0) * gain as f32;
            }
        }
        for s in out.iter_mut() {
            *s = s.clamp(-1.0, 1.0);
        }
        self.pos = end;
    }
}

fn resampled_len(clip: &Clip, rate: u32) -> u64 {
    if clip.rate == rate || clip.rate == 0 {
        return clip.samples.len() as u64;
    }
    (clip.samples.len() as u64 * u64::from(rate)).div_ceil(u64::from(clip.rate))
}

/// The clip's samples at `rate`, by linear interpolation.
fn resample(clip: &Clip, rate: u32) -> std::sync::Arc<[f32]> {
    if clip.rate == rate || clip.rate == 0 || clip.samples.is_empty() {
        return std::sync::Arc::clone(&clip.samples);
    }
    let src = &clip.samples;
    let step = f64::from(clip.rate) / f64::from(rate);
    (0..resampled_len(clip, rate))
        .map(|i| {
            let x = i as f64 * step;
            let j = x as usize;
            let frac = (x - j as f64) as f32;
            let a = src[j.min(src.len() - 1)];
            let b = src[(j + 1).min(src.len() - 1)];
            a + (b - a) * frac
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::duck::DUCK_DB;

    fn dc(value: f32, len: usize, rate: u32) -> Clip {
        Clip {
            rate,
            samples: vec![value; len].into(),
        }
    }

    fn timed(at_ms: Ms, clip: Clip) -> TimedClip {
        TimedClip {
            at_ms,
            clip,
            cue: 0,
        }
    }

    #[test]
    fn each_clip_starts_on_its_exact_sample() {
        let rate = 22_050;
        let tl = [
            timed(0, dc(0.25, 10, rate)),
            timed(1_001, dc(0.25, 10, rate)),
            timed(2_337, dc(0.25, 10, rate)),
        ];
        let out = render_timeline(&tl, 3_000, rate);
        assert_eq!(out.len(), 66_150);
        for at_ms in [0u64, 1_001, 2_337] {
            let start = (at_ms * 22_050 / 1000) as usize;
            if start > 0 {
                assert_eq!(out[start - 1], 0.0, "before {at_ms}");
            }
            assert_eq!(&out[start..start + 10], &[0.25; 10], "at {at_ms}");
            assert_eq!(out[start + 10], 0.0, "after {at_ms}");
        }
    }

    #[test]
    fn overlapping_clips_are_summed_and_clamped() {
        let rate = 1_000;
        let tl = [timed(0, dc(0.75, 10, rate)), timed(5, dc(0.75, 10, rate))];
        let out = render_timeline(&tl, 0, rate);
        assert_eq!(out.len(), 15, "the track rings on past total_ms");
        assert_eq!(out[4], 0.75);
        assert_eq!(out[5], 1.0);
        assert_eq!(out[14], 0.75);
    }

    #[test]
    fn block_mixing_matches_one_pass() {
        // clips that straddle block boundaries land where one pass puts them
        let rate = 8_000;
        let tl: Vec<TimedClip> = (0..40)
            .map(|i| timed(i * 250 + 3, Clip::tone(440.0, 300, rate)))
            .collect();
        let whole = render_timeline(&tl, 10_000, rate);
        let mut mix = Mixdown::new(&tl, 10_000, rate);
        let mut pieces = Vec::new();
        for n in [1usize, 7, 999, 4_096, 100_000] {
            let mut block = vec![0.0; n.min(mix.total as usize - pieces.len())];
            mix.fill(&mut block);
            pieces.extend(block);
        }
        assert_eq!(pieces, whole);
    }

    #[test]
    fn clips_at_another_rate_are_resampled_in_place() {
        let clip = dc(0.5, 100, 24_000);
        let tl = [timed(10, clip)];
        let out = render_timeline(&tl, 0, 48_000);
        assert_eq!(out.len(), 480 + 200);
        assert_eq!(out[479], 0.0);
        assert!(out[480..680].iter().all(|&s| (s - 0.5).abs() < 1e-6));
    }

    #[test]
    fn a_wav_round_trips_at_16_bits() {
        let dir = std::env::temp_dir().join(format!("mc-wav-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.wav");
        write_wav(&[0.0, 0.5, -1.5, 1.0], 22_050, &path).unwrap();
        let mut r = hound::WavReader::open(&path).unwrap();
        assert_eq!(r.spec(), wav_spec(22_050));
        let s: Vec<i16> = r.samples::<i16>().map(Result::unwrap).collect();
        assert_eq!(s, [0, 16_384, -32_767, 32_767]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn timeline_pairs_cues_with_clips_in_order() {
        use crate::plan::CueKind;
        let cue = |at_ms, text: &str| Cue {
            at_ms,
            duration_ms: 100,
            kind: CueKind::Count,
            text: text.into(),
            step: Some(0),
            rep: None,
            sound: None,
        };
        let cues = [cue(0, "one"), cue(2000, "two"), cue(4000, "three")];
        let tl = timeline(&cues, |c| {
            Clip::tone(1000.0, c.text.len() as u64 * 10, 8_000)
        });
        assert_eq!(
            tl.iter().map(|t| (t.at_ms, t.cue)).collect::<Vec<_>>(),
            [(0, 0), (2000, 1), (4000, 2)]
        );
        assert_eq!(tl[2].clip.duration_ms(), 50);
    }

    /// A music file of a steady 210 Hz sine at `amplitude` that loops
    /// seamlessly (105 samples a period at 22 050 Hz), written as WAV.
    fn sine_music(dir: &Path, amplitude: f32) -> Playlist {
        let rate = 22_050;
        let samples: Vec<f32> = (0..105 * 2_100)
            .map(|i| amplitude * (std::f32::consts::TAU * i as f32 / 105.0).sin())
            .collect();
        let path = dir.join("sine.wav");
        write_wav(&samples, rate, &path).unwrap();
        Playlist::find(&path).unwrap()
    }

    fn rms(s: &[f32]) -> f64 {
        (s.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>() / s.len() as f64).sqrt()
    }

    fn db(x: f64) -> f64 {
        20.0 * x.log10()
    }

    /// The largest change from one sample to the next.
    fn max_step(s: &[f32]) -> f32 {
        s.windows(2)
            .map(|w| (w[1] - w[0]).abs())
            .fold(0.0, f32::max)
    }

    const RATE: u32 = 22_050;
    const AMPLITUDE: f32 = 0.8;
    const VOLUME: f64 = 0.5;

    /// Three silent cues, so that only the music sounds: at 5.01 s (1 s
    /// long), 8.02 s (2 s) and 12.53 s (0.3 s), in a 20 s session.
    fn silent_cues() -> Vec<TimedClip> {
        [(5_010, 1_000), (8_020, 2_000), (12_530, 300)]
            .into_iter()
            .map(|(at, ms)| timed(at, dc(0.0, (ms * u64::from(RATE) / 1000) as usize, RATE)))
            .collect()
    }

    /// 20 s of the silent cues rendered over the sine music.
    fn twenty_seconds_under_music() -> Vec<f32> {
        let dir = tempfile::tempdir().unwrap();
        let music = RenderMusic {
            playlist: sine_music(dir.path(), AMPLITUDE),
            volume: VOLUME,
            seed: 7,
        };
        render_timeline_with_music(&silent_cues(), 20_000, RATE, &music)
    }

    fn window(out: &[f32], from_ms: u64, to_ms: u64) -> &[f32] {
        &out[(from_ms * u64::from(RATE) / 1000) as usize..(to_ms * u64::from(RATE) / 1000) as usize]
    }

    #[test]
    fn music_is_ducked_by_the_documented_depth_under_every_cue() {
        let out = twenty_seconds_under_music();
        assert_eq!(out.len(), 20 * RATE as usize);
        let full = f64::from(AMPLITUDE) * VOLUME / 2f64.sqrt();
        // between cues, past the fade in and the releases: the music at its
        // volume
        for (from, to) in [
            (3_200, 4_700),
            (6_700, 7_700),
            (10_700, 12_200),
            (13_500, 16_500),
        ] {
            let level = db(rms(window(&out, from, to)) / full);
            assert!(level.abs() < 0.05, "{from}..{to} ms: {level} dB");
        }
        // under each cue: lowered by the documented depth
        for (from, to) in [(5_010, 6_010), (8_020, 10_020), (12_530, 12_830)] {
            let level = db(rms(window(&out, from, to)) / full);
            assert!((level + DUCK_DB).abs() < 0.1, "{from}..{to} ms: {level} dB");
        }
        // already going down before the first cue, and not yet back after it
        let before = db(rms(window(&out, 4_910, 4_960)) / full);
        let after = db(rms(window(&out, 6_060, 6_110)) / full);
        assert!(before < -3.0 && before > -DUCK_DB, "{before} dB");
        assert!(after < -3.0 && after > -DUCK_DB, "{after} dB");
        // faded in from silence and out to it
        assert!(out[0].abs() < 1e-6 && out.last().unwrap().abs() < 1e-3);
        assert!(rms(window(&out, 0, 500)) < full / 10.0);
        assert!(rms(window(&out, 19_700, 20_000)) < full / 10.0);
    }

    #[test]
    fn no_duck_or_fade_clicks() {
        let out = twenty_seconds_under_music();
        // the steepest the music moves in a sample where its level is
        // steady; smooth changes of gain add next to nothing to it
        let peak = AMPLITUDE * VOLUME as f32;
        let sine_step = max_step(window(&out, 13_500, 16_500));
        let step = max_step(&out);
        assert!(step <= sine_step * 1.05, "{step} > {sine_step}");

        // the same check catches a hard switch: the music cut to the
        // ducked level at each cue's edges, without ramps
        let floor = 10f32.powf(-DUCK_DB as f32 / 20.0);
        let mut switched = out.clone();
        let spans: Vec<(usize, usize)> = silent_cues()
            .iter()
            .map(|t| {
                let start = start_sample(t.at_ms, RATE) as usize;
                (start, start + t.clip.samples.len())
            })
            .collect();
        for (i, s) in switched.iter_mut().enumerate() {
            let t_ms = i as f64 * 1000.0 / f64::from(RATE);
            let unducked = (3_000.0..17_000.0).contains(&t_ms);
            let phase = (std::f32::consts::TAU * (i % 105) as f32 / 105.0).sin();
            if unducked {
                let under = spans.iter().any(|(a, b)| (*a..*b).contains(&i));
                *s = peak * phase * if under { floor } else { 1.0 };
            }
        }
        let hard = max_step(&switched);
        assert!(hard > sine_step * 3.0, "a switch gave only {hard}");
    }

    #[test]
    fn cues_sound_over_the_music() {
        // a cue's own samples are added to the ducked music, clamped
        let dir = tempfile::tempdir().unwrap();
        let music = RenderMusic {
            playlist: sine_music(dir.path(), AMPLITUDE),
            volume: VOLUME,
            seed: 7,
        };
        let tl = [timed(5_000, dc(0.25, RATE as usize, RATE))];
        let with = render_timeline_with_music(&tl, 10_000, RATE, &music);
        let bare = render_timeline_with_music(
            &[timed(5_000, dc(0.0, RATE as usize, RATE))],
            10_000,
            RATE,
            &music,
        );
        let cue = window(&with, 5_000, 6_000);
        let under = window(&bare, 5_000, 6_000);
        for (a, b) in cue.iter().zip(under) {
            assert!((a - b - 0.25).abs() < 1e-6);
        }
    }

    #[test]
    fn a_file_with_music_is_written_in_each_format() {
        let dir = tempfile::tempdir().unwrap();
        let music = RenderMusic {
            playlist: sine_music(dir.path(), AMPLITUDE),
            volume: VOLUME,
            seed: 7,
        };
        let tl = silent_cues();
        let expected = render_timeline_with_music(&tl, 20_000, RATE, &music);
        for name in ["s.wav", "s.flac", "s.ogg"] {
            let path = dir.path().join(name);
            let summary = render_timeline_to_file(
                &tl,
                20_000,
                &path,
                Format::of(&path).unwrap(),
                Some(&music),
            )
            .unwrap();
            assert_eq!(
                (summary.rate, summary.samples),
                (RATE, expected.len() as u64)
            );
            let decoded: Vec<f32> = rodio::Decoder::try_from(std::fs::File::open(&path).unwrap())
                .unwrap()
                .collect();
            // the music between cues is there at its level in every format
            let level =
                rms(window(&decoded, 13_500, 16_500)) / rms(window(&expected, 13_500, 16_500));
            // (Ogg Vorbis is lossy: a little level is lost)
            assert!(db(level).abs() < 1.0, "{name}: {} dB", db(level));
        }
    }
}
