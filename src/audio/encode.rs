//! Writing a rendered track to a file: WAV, FLAC or Ogg Vorbis, chosen by
//! the file's name. The track is mixed a block at a time and handed to the
//! encoder as it comes, so a long session needs little memory.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::num::{NonZeroU8, NonZeroU32};
use std::path::{Path, PathBuf};

use super::AudioError;

/// The kinds of file `render` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// 16-bit PCM: plays anywhere, large.
    Wav,
    /// 16-bit lossless FLAC: the same samples, about half the size or less.
    Flac,
    /// Ogg Vorbis: lossy, small enough for a phone.
    Ogg,
}

impl Format {
    /// The format a file name asks for: `.wav`, `.flac`, `.ogg` or `.oga`.
    pub fn of(path: &Path) -> Result<Format, AudioError> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("wav") => Ok(Format::Wav),
            Some("flac") => Ok(Format::Flac),
            Some("ogg" | "oga") => Ok(Format::Ogg),
            _ => Err(AudioError::Format {
                path: path.to_owned(),
            }),
        }
    }

    /// Its name, as `render` reports it.
    pub fn name(self) -> &'static str {
        match self {
            Format::Wav => "WAV",
            Format::Flac => "FLAC",
            Format::Ogg => "Ogg Vorbis",
        }
    }
}

/// The Vorbis quality (−0.2 to 1): about 64 kb/s for mono at 22 kHz, clear
/// speech and fair music.
const VORBIS_QUALITY: f32 = 0.4;

/// Samples per block handed to an encoder.
const BLOCK: usize = 1 << 15;

/// Writes a mono track of `total` samples at `rate` to `path` in `format`;
/// `fill` adds the next samples of the track to the (zeroed) block it is
/// given.
pub fn write_track(
    path: &Path,
    format: Format,
    rate: u32,
    total: u64,
    mut fill: impl FnMut(&mut [f32]),
) -> Result<(), AudioError> {
    let failed = |detail: String| AudioError::Write {
        path: path.to_owned(),
        detail,
    };
    let mut blocks = Blocks {
        fill: &mut fill,
        left: total,
        block: vec![0.0; BLOCK],
    };
    match format {
        Format::Wav => {
            let spec = hound::WavSpec {
                channels: 1,
                sample_rate: rate,
                bits_per_sample: 16,
                sample_format: hound::SampleFormat::Int,
            };
            let wav_error = |source| AudioError::Wav {
                path: path.to_owned(),
                source,
            };
            let mut writer = hound::WavWriter::create(path, spec).map_err(wav_error)?;
            while let Some(block) = blocks.next_block() {
                let mut ints = writer.get_i16_writer(block.len() as u32);
                for &s in block {
                    ints.write_sample(to_i16(s));
                }
                ints.flush().map_err(wav_error)?;
            }
            writer.finalize().map_err(wav_error)
        }
        Format::Flac => {
            use flacenc::component::BitRepr;
            use flacenc::error::Verify;
            let config = flacenc::config::Encoder::default()
                .into_verified()
                .map_err(|(_, e)| failed(format!("FLAC settings: {e:?}")))?;
            let block_size = config.block_size;
            let mut stream = flacenc::encode_with_fixed_block_size(
                &config,
                FlacSource {
                    blocks,
                    rate: rate as usize,
                    ints: Vec::new(),
                },
                block_size,
            )
            .map_err(|e| failed(format!("FLAC: {e:?}")))?;
            // the last block is shorter, and does not count: the stream
            // has one block size (some decoders refuse it otherwise)
            stream
                .stream_info_mut()
                .set_block_sizes(block_size, block_size)
                .map_err(|e| failed(format!("FLAC: {e:?}")))?;
            let mut sink = flacenc::bitsink::ByteSink::new();
            stream
                .write(&mut sink)
                .map_err(|e| failed(format!("FLAC: {e:?}")))?;
            let mut file = create(path)?;
            file.write_all(sink.as_slice())
                .and_then(|()| file.flush())
                .map_err(|e| failed(e.to_string()))
        }
        Format::Ogg => {
            let rate = NonZeroU32::new(rate).ok_or(AudioError::ZeroRate)?;
            let file = create(path)?;
            // a fixed serial: the same session renders to the same bytes
            let mut builder =
                vorbis_rs::VorbisEncoderBuilder::new_with_serial(rate, NonZeroU8::MIN, file, 1);
            builder.bitrate_management_strategy(
                vorbis_rs::VorbisBitrateManagementStrategy::QualityVbr {
                    target_quality: VORBIS_QUALITY,
                },
            );
            let mut encoder = builder
                .build()
                .map_err(|e| failed(format!("Ogg Vorbis: {e}")))?;
            while let Some(block) = blocks.next_block() {
                let clamped: Vec<f32> = block.iter().map(|s| s.clamp(-1.0, 1.0)).collect();
                encoder
                    .encode_audio_block([clamped])
                    .map_err(|e| failed(format!("Ogg Vorbis: {e}")))?;
            }
            let mut file = encoder
                .finish()
                .map_err(|e| failed(format!("Ogg Vorbis: {e}")))?;
            file.flush().map_err(|e| failed(e.to_string()))
        }
    }
}

/// Writes mono `samples` at `rate` to `path`, in the format its name asks
/// for.
pub fn write_samples(path: &Path, samples: &[f32], rate: u32) -> Result<(), AudioError> {
    let format = Format::of(path)?;
    let mut at = 0;
    write_track(path, format, rate, samples.len() as u64, |block| {
        block.copy_from_slice(&samples[at..at + block.len()]);
        at += block.len();
    })
}

fn create(path: &Path) -> Result<BufWriter<File>, AudioError> {
    File::create(path)
        .map(BufWriter::new)
        .map_err(|e| AudioError::Write {
            path: PathBuf::from(path),
            detail: e.to_string(),
        })
}

fn to_i16(s: f32) -> i16 {
    (s.clamp(-1.0, 1.0) * f32::from(i16::MAX)).round() as i16
}

/// The track, a block at a time.
struct Blocks<'a> {
    fill: &'a mut dyn FnMut(&mut [f32]),
    left: u64,
    block: Vec<f32>,
}

impl Blocks<'_> {
    fn next_block(&mut self) -> Option<&[f32]> {
        self.next_of(BLOCK)
    }

    fn next_of(&mut self, most: usize) -> Option<&[f32]> {
        if self.left == 0 {
            return None;
        }
        let n = (self.left.min(most as u64) as usize).min(self.block.len());
        let block = &mut self.block[..n];
        block.fill(0.0);
        (self.fill)(block);
        self.left -= n as u64;
        Some(block)
    }
}

/// The track as the FLAC encoder reads it: 16-bit mono.
struct FlacSource<'a> {
    blocks: Blocks<'a>,
    rate: usize,
    ints: Vec<i32>,
}

impl flacenc::source::Source for FlacSource<'_> {
    fn channels(&self) -> usize {
        1
    }

    fn bits_per_sample(&self) -> usize {
        16
    }

    fn sample_rate(&self) -> usize {
        self.rate
    }

    fn read_samples<F: flacenc::source::Fill>(
        &mut self,
        block_size: usize,
        dest: &mut F,
    ) -> Result<usize, flacenc::error::SourceError> {
        self.ints.clear();
        if let Some(block) = self.blocks.next_of(block_size) {
            self.ints
                .extend(block.iter().map(|&s| i32::from(to_i16(s))));
        }
        dest.fill_interleaved(&self.ints)?;
        Ok(self.ints.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(n: usize, rate: u32) -> Vec<f32> {
        (0..n)
            .map(|i| 0.5 * (i as f32 * 440.0 * std::f32::consts::TAU / rate as f32).sin())
            .collect()
    }

    fn write(path: &Path, samples: &[f32], rate: u32) {
        write_samples(path, samples, rate).unwrap();
    }

    /// What rodio's decoder reads back from a file: rate and samples.
    fn decode(path: &Path) -> (u32, Vec<f32>) {
        use rodio::Source;
        let d = rodio::Decoder::try_from(File::open(path).unwrap()).unwrap();
        assert_eq!(d.channels().get(), 1);
        let rate = d.sample_rate().get();
        (rate, d.collect())
    }

    #[test]
    fn the_format_is_chosen_by_the_file_name() {
        assert_eq!(Format::of(Path::new("a.WAV")).unwrap(), Format::Wav);
        assert_eq!(Format::of(Path::new("a.flac")).unwrap(), Format::Flac);
        assert_eq!(Format::of(Path::new("x/a.ogg")).unwrap(), Format::Ogg);
        assert_eq!(Format::of(Path::new("a.oga")).unwrap(), Format::Ogg);
        for bad in ["a.mp3", "a", "a.wav.txt"] {
            let err = Format::of(Path::new(bad)).unwrap_err().to_string();
            assert!(err.contains(".wav, .flac or .ogg"), "{err}");
        }
    }

    #[test]
    fn wav_and_flac_keep_every_sample_and_ogg_keeps_the_sound() {
        let dir = tempfile::tempdir().unwrap();
        let rate = 22_050;
        // longer than a block, not a whole number of them
        let samples = tone(BLOCK * 2 + 1_234, rate);
        let ints: Vec<i16> = samples.iter().map(|&s| to_i16(s)).collect();
        for name in ["t.wav", "t.flac"] {
            let path = dir.path().join(name);
            write(&path, &samples, rate);
            let (r, back) = decode(&path);
            assert_eq!(r, rate, "{name}");
            let back: Vec<i16> = back.iter().map(|&s| to_i16(s)).collect();
            assert_eq!(back, ints, "{name} is not lossless");
        }
        let path = dir.path().join("t.ogg");
        write(&path, &samples, rate);
        let (r, back) = decode(&path);
        assert_eq!(r, rate);
        assert!(back.len().abs_diff(samples.len()) < 2_048, "{}", back.len());
        // lossy, but the tone is there at its level
        let rms = |s: &[f32]| (s.iter().map(|x| x * x).sum::<f32>() / s.len() as f32).sqrt();
        let mid = 10_000..50_000;
        assert!((rms(&back[mid.clone()]) - rms(&samples[mid])).abs() < 0.02);
        let flac = std::fs::metadata(dir.path().join("t.flac")).unwrap().len();
        let wav = std::fs::metadata(dir.path().join("t.wav")).unwrap().len();
        let ogg = std::fs::metadata(&path).unwrap().len();
        assert!(ogg < flac && flac < wav, "{ogg} {flac} {wav}");
    }
}
