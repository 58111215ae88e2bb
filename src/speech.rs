//! How long things take to say. The planner asks this interface for the
//! length of every clip; the voice supplies real lengths, and
//! [`Estimate`] stands in where no clip exists yet.

use crate::ms::Ms;

/// A sound that is not speech.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sound {
    /// The soft tick used instead of a spoken count.
    Tick,
    /// The chime at the end of a session.
    Chime,
}

/// The length of every clip the planner may place on the timeline.
pub trait ClipLengths {
    /// How long `text` takes to say, in milliseconds.
    fn speech_ms(&self, text: &str) -> Ms;
    /// How long a non-speech sound lasts.
    fn sound_ms(&self, sound: Sound) -> Ms;
}

/// An estimate of spoken length from the text alone, at a calm pace of
/// about 2.6 words a second, with numbers counted as the words they become.
#[derive(Debug, Clone, Copy, Default)]
pub struct Estimate;

impl Estimate {
    /// Milliseconds per syllable-ish unit: calm speech runs near 4.5 a second.
    const PER_SYLLABLE: Ms = 220;
    const PER_PAUSE: Ms = 250;
}

impl ClipLengths for Estimate {
    fn speech_ms(&self, text: &str) -> Ms {
        let mut syllables: Ms = 0;
        let mut pauses: Ms = 0;
        for word in text.split_whitespace() {
            let core: String = word.chars().filter(|c| c.is_alphanumeric()).collect();
            if core.is_empty() {
                continue;
            }
            syllables += if core.chars().all(|c| c.is_ascii_digit()) {
                // "15" is said "fif-teen", "120" "a hun-dred and twen-ty"
                2 * core.len() as Ms
            } else {
                syllable_guess(&core)
            };
            if word.ends_with([',', '.', ';', ':', '!', '?']) {
                pauses += 1;
            }
        }
        // a short clip still has an attack and decay
        (syllables * Self::PER_SYLLABLE + pauses.saturating_sub(1) * Self::PER_PAUSE).max(300)
    }

    fn sound_ms(&self, sound: Sound) -> Ms {
        match sound {
            Sound::Tick => 60,
            Sound::Chime => 1800,
        }
    }
}

/// Vowel groups, a fair guess at English syllables.
fn syllable_guess(word: &str) -> Ms {
    let mut groups = 0;
    let mut in_vowel = false;
    for c in word.chars() {
        let vowel = matches!(c.to_ascii_lowercase(), 'a' | 'e' | 'i' | 'o' | 'u' | 'y');
        if vowel && !in_vowel {
            groups += 1;
        }
        in_vowel = vowel;
    }
    if word.len() > 3 && word.ends_with('e') && groups > 1 {
        groups -= 1;
    }
    groups.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longer_text_takes_longer() {
        let e = Estimate;
        assert!(e.speech_ms("Deep stroking, fifteen times.") > e.speech_ms("Press."));
        assert!(e.speech_ms("120") > e.speech_ms("5"));
    }

    #[test]
    fn a_count_fits_a_two_second_tempo() {
        let e = Estimate;
        for n in ["1", "7", "15", "20", "Last one."] {
            assert!(e.speech_ms(n) < 1500, "{n}: {}", e.speech_ms(n));
        }
    }
}
