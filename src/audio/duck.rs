//! The level of the music under the cues: pure functions of the cue
//! timeline, shared by the live output and `render`.
//!
//! - Under every cue the music is lowered by [`DUCK_DB`]. It starts going
//!   down [`ATTACK_MS`] before the cue starts and is all the way down when
//!   the first word sounds; it comes back up over [`RELEASE_MS`] after the
//!   cue ends. Cues closer together than that stay ducked between them.
//! - The music fades in over [`FADE_IN_MS`] when a session starts and out
//!   over [`FADE_OUT_MS`] when it ends; a pause fades it out within
//!   [`PAUSE_FADE_MS`], a resume brings it back over [`RESUME_FADE_MS`].
//!
//! Every change of level follows a raised-cosine curve (the level in dB, for
//! a duck), whose slope is zero at both ends: nothing jumps from one sample
//! to the next, so no duck or fade clicks.

use std::f64::consts::PI;

/// How far the music is lowered under a cue, in dB.
pub const DUCK_DB: f64 = 12.0;
/// How long before a cue the music starts going down (it is all the way
/// down when the cue starts).
pub const ATTACK_MS: f64 = 200.0;
/// How long after a cue ends the music takes to come back up.
pub const RELEASE_MS: f64 = 600.0;
/// How long the music takes to fade in when a session starts.
pub const FADE_IN_MS: f64 = 3_000.0;
/// How long the music takes to fade out when a session ends.
pub const FADE_OUT_MS: f64 = 2_500.0;
/// How long the music takes to fall silent when the session is paused.
pub const PAUSE_FADE_MS: f64 = 20.0;
/// How long the music takes to come back when the session resumes.
pub const RESUME_FADE_MS: f64 = 1_000.0;

/// When a cue sounds, in ms on the music's own timeline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Span {
    pub start_ms: f64,
    pub end_ms: f64,
}

/// 0 at `x ≤ 0`, 1 at `x ≥ 1`, a raised cosine between: flat at both ends.
pub fn smooth(x: f64) -> f64 {
    if x <= 0.0 {
        0.0
    } else if x >= 1.0 {
        1.0
    } else {
        (1.0 - (PI * x).cos()) / 2.0
    }
}

/// How far one cue ducks the music at `t`: 0 (not at all) to 1 (by
/// [`DUCK_DB`]).
fn span_amount(t: f64, span: &Span) -> f64 {
    if t < span.start_ms {
        smooth((t - (span.start_ms - ATTACK_MS)) / ATTACK_MS)
    } else if t <= span.end_ms {
        1.0
    } else {
        1.0 - smooth((t - span.end_ms) / RELEASE_MS)
    }
}

/// How far the cues duck the music at `t`, 0 to 1: the deepest any of them
/// asks for.
pub fn duck_amount(t: f64, spans: &[Span]) -> f64 {
    spans
        .iter()
        .map(|span| span_amount(t, span))
        .fold(0.0, f64::max)
}

/// The music's gain (1 is its own level) for a duck of `amount` (0 to 1):
/// the level moves in dB, as the ear hears it.
pub fn duck_gain(amount: f64) -> f64 {
    10f64.powf(-DUCK_DB * amount / 20.0)
}

/// The music's gain at `t` under the cues `spans`.
pub fn ducked(t: f64, spans: &[Span]) -> f64 {
    duck_gain(duck_amount(t, spans))
}

/// The fade of a track that starts at 0 and ends at `end_ms`: in over
/// [`FADE_IN_MS`], out over [`FADE_OUT_MS`] (over half the track each,
/// when it is shorter than both).
pub fn fade(t: f64, end_ms: f64) -> f64 {
    let fade_in = FADE_IN_MS.min(end_ms / 2.0).max(1.0);
    let fade_out = FADE_OUT_MS.min(end_ms / 2.0).max(1.0);
    smooth(t / fade_in) * smooth((end_ms - t) / fade_out)
}

/// [`duck_amount`] for times that only move forward over spans that start
/// in order, in constant time per step however long the session: the
/// spans whose effect is over are let go of.
#[derive(Debug, Clone, Default)]
pub struct DuckCursor {
    spans: std::collections::VecDeque<Span>,
}

impl DuckCursor {
    pub fn new() -> DuckCursor {
        DuckCursor::default()
    }

    /// Adds a cue; cues come in the order they start.
    pub fn push(&mut self, span: Span) {
        self.spans.push_back(span);
    }

    /// The spans not yet let go of.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// [`duck_amount`] at `t`, no earlier than the last `t` asked for.
    pub fn amount(&mut self, t: f64) -> f64 {
        while self
            .spans
            .front()
            .is_some_and(|s| s.end_ms + RELEASE_MS < t)
        {
            self.spans.pop_front();
        }
        let mut amount: f64 = 0.0;
        for span in &self.spans {
            if span.start_ms - ATTACK_MS > t {
                break;
            }
            amount = amount.max(span_amount(t, span));
        }
        amount
    }
}

/// A level that moves from where it is to a target along [`smooth`]: the
/// music's fades in the live output (start, pause, resume, end).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fader {
    from: f64,
    to: f64,
    start_ms: f64,
    len_ms: f64,
}

impl Fader {
    /// A level held at `level`.
    pub fn at(level: f64) -> Fader {
        Fader {
            from: level,
            to: level,
            start_ms: 0.0,
            len_ms: 0.0,
        }
    }

    /// The level at `t`.
    pub fn level(&self, t: f64) -> f64 {
        if self.len_ms <= 0.0 {
            return if t < self.start_ms {
                self.from
            } else {
                self.to
            };
        }
        let x = smooth((t - self.start_ms) / self.len_ms);
        self.from + (self.to - self.from) * x
    }

    /// From `t` on, moves from the level at `t` to `to` over `len_ms`.
    pub fn go(&mut self, t: f64, to: f64, len_ms: f64) {
        *self = Fader {
            from: self.level(t),
            to,
            start_ms: t,
            len_ms: len_ms.max(0.0),
        };
    }

    /// The level it is going to.
    pub fn target(&self) -> f64 {
        self.to
    }

    /// Whether it has reached its target by `t`.
    pub fn settled(&self, t: f64) -> bool {
        t >= self.start_ms + self.len_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db(gain: f64) -> f64 {
        20.0 * gain.log10()
    }

    const CUE: Span = Span {
        start_ms: 10_000.0,
        end_ms: 11_000.0,
    };

    #[test]
    fn a_cue_ducks_by_the_documented_depth_from_its_first_word_to_its_last() {
        for t in [10_000.0, 10_500.0, 11_000.0] {
            assert!((db(ducked(t, &[CUE])) + DUCK_DB).abs() < 1e-9, "at {t}");
        }
    }

    #[test]
    fn the_attack_comes_before_the_cue_and_the_release_after_it() {
        // untouched until the attack begins, and again once released
        assert_eq!(ducked(10_000.0 - ATTACK_MS, &[CUE]), 1.0);
        assert_eq!(ducked(11_000.0 + RELEASE_MS, &[CUE]), 1.0);
        assert_eq!(ducked(0.0, &[CUE]), 1.0);
        // half way down half way through the attack, in dB
        let mid = db(ducked(10_000.0 - ATTACK_MS / 2.0, &[CUE]));
        assert!((mid + DUCK_DB / 2.0).abs() < 1e-9, "{mid}");
        let mid = db(ducked(11_000.0 + RELEASE_MS / 2.0, &[CUE]));
        assert!((mid + DUCK_DB / 2.0).abs() < 1e-9, "{mid}");
        // it only goes down during the attack and up during the release
        let mut last = 1.0;
        for i in 0..=200 {
            let g = ducked(10_000.0 - ATTACK_MS + f64::from(i), &[CUE]);
            assert!(g <= last, "attack at {i}");
            last = g;
        }
        for i in 0..=600 {
            let g = ducked(11_000.0 + f64::from(i), &[CUE]);
            assert!(g >= last, "release at {i}");
            last = g;
        }
    }

    #[test]
    fn close_cues_keep_the_music_down_between_them() {
        let next = Span {
            start_ms: 11_300.0,
            end_ms: 11_800.0,
        };
        let between = duck_amount(11_150.0, &[CUE, next]);
        // the release of the first and the attack of the second overlap:
        // the deeper wins, and it never comes near full level
        assert!(between > 0.5, "{between}");
        assert_eq!(duck_amount(11_300.0, &[CUE, next]), 1.0);
    }

    #[test]
    fn the_level_never_jumps() {
        // the largest change of gain from one ms to the next is that of the
        // steepest curve, far below a switch (1 − 0.25 in one step)
        let spans = [CUE];
        let steepest_db = DUCK_DB * PI / 2.0 / ATTACK_MS;
        let mut last = ducked(9_000.0, &spans);
        for i in 9_001..13_000 {
            let g = ducked(f64::from(i), &spans);
            let step_db = (db(g) - db(last)).abs();
            assert!(step_db <= steepest_db * 1.001, "at {i}: {step_db} dB");
            last = g;
        }
    }

    #[test]
    fn the_fade_rises_from_silence_and_falls_back_to_it() {
        let end = 60_000.0;
        assert_eq!(fade(0.0, end), 0.0);
        assert_eq!(fade(FADE_IN_MS, end), 1.0);
        assert_eq!(fade(end / 2.0, end), 1.0);
        assert_eq!(fade(end - FADE_OUT_MS, end), 1.0);
        assert_eq!(fade(end, end), 0.0);
        assert!((fade(FADE_IN_MS / 2.0, end) - 0.5).abs() < 1e-9);
        // a track shorter than both fades still starts and ends silent
        assert_eq!(fade(0.0, 1_000.0), 0.0);
        assert_eq!(fade(500.0, 1_000.0), 1.0);
        assert_eq!(fade(1_000.0, 1_000.0), 0.0);
    }

    #[test]
    fn the_cursor_agrees_with_the_whole_timeline() {
        let spans: Vec<Span> = (0..200)
            .map(|i| {
                let start = f64::from(i * 1_300 % 7_919 + i * 900);
                Span {
                    start_ms: start,
                    end_ms: start + f64::from(100 + i * 37 % 1_500),
                }
            })
            .collect();
        let mut sorted = spans.clone();
        sorted.sort_by(|a, b| a.start_ms.total_cmp(&b.start_ms));
        let mut cursor = DuckCursor::new();
        for span in &sorted {
            cursor.push(*span);
        }
        let mut t = -500.0;
        while t < 200_000.0 {
            assert_eq!(cursor.amount(t), duck_amount(t, &spans), "at {t}");
            t += 7.3;
        }
        assert!(cursor.len() < 3, "spans that are over are let go of");
    }

    #[test]
    fn a_fader_starts_from_where_it_is() {
        let mut f = Fader::at(0.0);
        f.go(0.0, 1.0, 1_000.0);
        assert_eq!(f.level(0.0), 0.0);
        assert!((f.level(500.0) - 0.5).abs() < 1e-9);
        // turned back half way: from 0.5, no jump
        f.go(500.0, 0.0, 20.0);
        assert!((f.level(500.0) - 0.5).abs() < 1e-9);
        assert_eq!(f.level(520.0), 0.0);
        assert!(f.settled(520.0) && !f.settled(519.0));
        assert_eq!(f.target(), 0.0);
    }

    #[test]
    fn the_documented_figures_are_these() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let daemon = std::fs::read_to_string(root.join("docs/daemon.md")).unwrap();
        let config = std::fs::read_to_string(root.join("config.toml")).unwrap();
        let seconds = |ms: f64| format!("{}", ms / 1000.0);
        for said in [
            format!("lowered by **{DUCK_DB} dB**"),
            format!("**{ATTACK_MS} ms before**"),
            format!("**{RELEASE_MS} ms** after the cue"),
            format!("fades in over **{} s**", seconds(FADE_IN_MS)),
            format!("within **{PAUSE_FADE_MS} ms**"),
            format!("back over **{} s**", seconds(RESUME_FADE_MS)),
            format!("fades out over **{} s**", seconds(FADE_OUT_MS)),
            format!("default {}", crate::audio::music::DEFAULT_VOLUME),
        ] {
            assert!(
                daemon.contains(&said),
                "docs/daemon.md does not say {said:?}"
            );
        }
        assert!(config.contains(&format!(
            "by {DUCK_DB} dB under every cue: from {} s before the cue until {} s after it",
            seconds(ATTACK_MS),
            seconds(RELEASE_MS)
        )));
        assert!(config.contains(&format!("volume = {}", crate::audio::music::DEFAULT_VOLUME)));
    }
}
