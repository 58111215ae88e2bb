//! The music of the session under way: which files, and the music playing
//! on the open output, told when every cue sounds and when the session
//! pauses, resumes and ends (see [`crate::audio::music`]).

use tokio::time::Instant;

use crate::audio::music::fresh_seed;
use crate::audio::{AudioOut, Music, Playlist};

/// A session's music: none, or files to play and how loud.
#[derive(Debug, Default)]
pub(super) struct SessionMusic {
    chosen: Option<(Playlist, f64)>,
    /// Playing on the open output; none before the session starts, and
    /// after the output was lost (it starts again on the next one).
    playing: Option<Music>,
}

impl SessionMusic {
    /// No music.
    pub(super) fn none() -> SessionMusic {
        SessionMusic::default()
    }

    /// `playlist` at `volume`, once the session starts.
    pub(super) fn of(playlist: Playlist, volume: f64) -> SessionMusic {
        SessionMusic {
            chosen: Some((playlist, volume)),
            playing: None,
        }
    }

    /// Starts the music on `out` from `at` unless it is playing: at the
    /// start of a session, and when it resumes on an output opened again.
    /// A failure costs the music, never the session.
    pub(super) fn play(&mut self, out: Option<&mut AudioOut>, at: Instant) {
        let (Some((playlist, volume)), Some(out), None) = (&self.chosen, out, &self.playing) else {
            return;
        };
        match Music::start(playlist, *volume, out, at, fresh_seed()) {
            Ok(music) => {
                tracing::info!(files = playlist.files().len(), "music under the cues");
                self.playing = Some(music);
            }
            Err(err) => tracing::warn!("no music: {err}"),
        }
    }

    /// A clip of `len_ms` is due at `due`: the music is lowered under it.
    pub(super) fn duck(&self, due: Instant, len_ms: u64) {
        if let Some(music) = &self.playing {
            music.duck(due, len_ms);
        }
    }

    pub(super) fn pause(&self, at: Instant) {
        if let Some(music) = &self.playing {
            music.pause(at);
        }
    }

    /// The session carries on: the music resumes, or starts on `out` if it
    /// was not playing there.
    pub(super) fn resume(&mut self, out: Option<&mut AudioOut>, at: Instant) {
        match &self.playing {
            Some(music) => music.resume(at),
            None => self.play(out, at),
        }
    }

    /// The session has ended: the music fades out.
    pub(super) fn end(&self, at: Instant) {
        if let Some(music) = &self.playing {
            music.end(at);
        }
    }

    /// The output it played on is gone.
    pub(super) fn lost(&mut self) {
        self.playing = None;
    }
}
