//! Sound: the output device, and rendering a whole session to a WAV file.
//! What is played when is [`crate::playback`]'s to decide.
//!
//! - [`AudioOut`] opens the default output device once and keeps it open for
//!   a session (a sound server needs a second or two to open a stream).
//! - [`CueSink`] is what playback needs from an output: "start this clip,
//!   which is due now" and "silence". [`AudioOut`] implements it, and so does
//!   [`RecordingSink`], a double that notes the time of every call, for
//!   tests on tokio's paused clock.
//! - [`render`] and [`render_to_wav`] place every clip at its exact sample,
//!   without any device.

pub mod duck;
mod encode;
pub mod music;
mod output;
mod recording;
mod render;

use std::path::PathBuf;
use std::time::Duration;

use tokio::time::Instant;

pub use encode::{Format, write_samples};
pub use music::{Music, MusicError, Playlist};
pub use output::{AudioOut, Health, SOUND_THREAD_NICE, say};
pub use recording::{RecordingSink, SinkCall};
pub use render::{
    RenderMusic, RenderSummary, TimedClip, render, render_timeline, render_timeline_to_file,
    render_timeline_to_wav, render_timeline_with_music, render_to_file, render_to_wav, timeline,
    write_wav,
};

use crate::clip::Clip;

/// What playback needs from an audio output.
///
/// Both calls must return at once: playback calls them near a cue's
/// deadline and anything slow here would show up as lateness.
pub trait CueSink {
    /// Start `clip` at `due`: a cue's deadline, which is a little ahead
    /// (see [`crate::playback::HAND_OVER_AHEAD_MS`]), now, or just past.
    /// An output that buffers audio ahead uses `due` to put the clip
    /// on the sample it was due at, whatever the moment the device takes its
    /// next buffer and however late the caller woke. Clips still sounding
    /// keep sounding, mixed (the planner guarantees spoken cues do not
    /// overlap).
    fn play_at(&mut self, clip: &Clip, due: Instant) -> Result<(), AudioError>;

    /// Start `clip` now.
    fn play(&mut self, clip: &Clip) -> Result<(), AudioError> {
        self.play_at(clip, Instant::now())
    }

    /// Stop everything that is sounding, at once.
    fn silence(&mut self);
}

impl<S: CueSink + ?Sized> CueSink for &mut S {
    fn play_at(&mut self, clip: &Clip, due: Instant) -> Result<(), AudioError> {
        (**self).play_at(clip, due)
    }

    fn silence(&mut self) {
        (**self).silence()
    }
}

/// Everything that can go wrong with sound.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    /// There is no output device: no sound card and no sound server.
    #[error(
        "no audio output device is available ({detail}); connect a sound device or start a \
         sound server such as PulseAudio or PipeWire"
    )]
    DeviceNotAvailable {
        /// What the audio backend said.
        detail: String,
    },
    /// A device exists but its stream could not be opened.
    #[error("could not open the audio output: {detail}")]
    Open {
        /// What the audio backend said.
        detail: String,
    },
    /// The stream opened but the device never asked for samples.
    #[error("the audio output opened but did not start playing within {0:?}")]
    NotStarted(Duration),
    /// The output device went away (unplugged, or the sound server quit)
    /// or the output was closed while still in use.
    #[error("the audio output has closed or its device went away")]
    Closed,
    /// A clip with no samples per second cannot be played or rendered.
    #[error("a clip has a sample rate of 0 Hz")]
    ZeroRate,
    /// `render` was asked for a kind of file it does not write.
    #[error(
        "cannot tell the kind of sound file to write from the name {}: end it with .wav, .flac or .ogg",
        path.display()
    )]
    Format {
        /// The file asked for.
        path: PathBuf,
    },
    /// Writing a FLAC or Ogg file failed.
    #[error("could not write {}: {detail}", path.display())]
    Write {
        /// The file being written.
        path: PathBuf,
        /// Why it failed.
        detail: String,
    },
    /// Writing a WAV file failed.
    #[error("could not write {}: {source}", path.display())]
    Wav {
        /// The file being written.
        path: PathBuf,
        /// Why it failed.
        source: hound::Error,
    },
}
