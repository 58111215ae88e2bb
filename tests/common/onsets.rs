//! Finding where sounds start and end in recorded or rendered audio.
//!
//! A sound starts at the first sample whose magnitude crosses a threshold
//! after at least `min_gap_ms` below it, and ends at the last sample above
//! the threshold before such a gap. Tones, clicks and silence-trimmed speech
//! clips separated by pauses all come out as one sound each.

use std::path::Path;

/// How sounds are told apart from silence.
#[derive(Debug, Clone, Copy)]
pub struct Detector {
    /// Magnitude (full scale 1.0) above which a sample is sound.
    pub threshold: f32,
    /// Quiet this long (ms) ends a sound; a shorter dip belongs to it (the
    /// zero crossings of a tone, the pauses between words of a phrase).
    pub min_gap_ms: f64,
}

impl Default for Detector {
    fn default() -> Self {
        Detector {
            threshold: 0.02,
            min_gap_ms: 60.0,
        }
    }
}

/// One sound, in samples from the start of the audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sound {
    pub start: usize,
    /// One past the last sample above the threshold.
    pub end: usize,
}

impl Sound {
    pub fn start_ms(&self, rate: u32) -> f64 {
        self.start as f64 * 1000.0 / f64::from(rate)
    }

    pub fn end_ms(&self, rate: u32) -> f64 {
        self.end as f64 * 1000.0 / f64::from(rate)
    }

    pub fn len_ms(&self, rate: u32) -> f64 {
        self.end_ms(rate) - self.start_ms(rate)
    }
}

impl Detector {
    /// Every sound in `samples` (mono), in order.
    pub fn sounds(&self, samples: &[f32], rate: u32) -> Vec<Sound> {
        let gap = (self.min_gap_ms * f64::from(rate) / 1000.0).ceil() as usize;
        let mut sounds: Vec<Sound> = Vec::new();
        for (i, s) in samples.iter().enumerate() {
            if s.abs() <= self.threshold {
                continue;
            }
            match sounds.last_mut() {
                Some(last) if i - (last.end - 1) < gap => last.end = i + 1,
                _ => sounds.push(Sound {
                    start: i,
                    end: i + 1,
                }),
            }
        }
        sounds
    }

    /// The start of every sound, in milliseconds.
    pub fn onsets_ms(&self, samples: &[f32], rate: u32) -> Vec<f64> {
        self.sounds(samples, rate)
            .iter()
            .map(|s| s.start_ms(rate))
            .collect()
    }
}

/// Reads a WAV file (any channel count, integer or float samples) as mono
/// samples at full scale 1.0, with its sample rate.
pub fn read_wav_mono(path: &Path) -> (Vec<f32>, u32) {
    let mut reader =
        hound::WavReader::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let spec = reader.spec();
    let channels = usize::from(spec.channels.max(1));
    let interleaved: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader.samples::<f32>().map(Result::unwrap).collect(),
        hound::SampleFormat::Int => {
            let full = (1i64 << (spec.bits_per_sample - 1)) as f32;
            reader
                .samples::<i32>()
                .map(|s| s.unwrap() as f32 / full)
                .collect()
        }
    };
    let mono = interleaved
        .chunks(channels)
        .map(|frame| frame.iter().sum::<f32>() / channels as f32)
        .collect();
    (mono, spec.sample_rate)
}

/// How far each measured onset is from where the plan put it, once both
/// are measured from their first cue: `(measured_i - measured_0) -
/// (planned_i - planned_0)` in ms. Panics with both lists if the counts
/// differ, since then nothing lines up.
pub fn spacing_errors_ms(measured: &[f64], planned_ms: &[u64]) -> Vec<f64> {
    assert_eq!(
        measured.len(),
        planned_ms.len(),
        "found {} sounds for {} cues\nmeasured: {measured:?}\nplanned: {planned_ms:?}",
        measured.len(),
        planned_ms.len()
    );
    let (Some(m0), Some(p0)) = (measured.first(), planned_ms.first()) else {
        return Vec::new();
    };
    measured
        .iter()
        .zip(planned_ms)
        .map(|(m, p)| (m - m0) - (*p - p0) as f64)
        .collect()
}

/// Median, 99th percentile and maximum of the magnitudes of `errors`.
pub fn summary(errors: &[f64]) -> (f64, f64, f64) {
    let mut abs: Vec<f64> = errors.iter().map(|e| e.abs()).collect();
    abs.sort_by(f64::total_cmp);
    if abs.is_empty() {
        return (0.0, 0.0, 0.0);
    }
    let at = |q: f64| abs[((abs.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.99), abs[abs.len() - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_tone_bursts_and_ignores_their_zero_crossings() {
        let rate = 8_000;
        let mut samples = vec![0.0f32; rate as usize];
        for start in [800usize, 4_000] {
            for i in 0..800 {
                samples[start + i] = 0.5 * (i as f32 * 0.7).sin();
            }
        }
        let sounds = Detector::default().sounds(&samples, rate);
        assert_eq!(sounds.len(), 2, "{sounds:?}");
        assert!((sounds[0].start_ms(rate) - 100.0).abs() < 0.5);
        assert!((sounds[1].start_ms(rate) - 500.0).abs() < 0.5);
        assert!((sounds[1].len_ms(rate) - 100.0).abs() < 0.5);
    }
}
