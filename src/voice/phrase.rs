//! The two keys a phrase is known by: its exact key, by which the pack and
//! the cache look a clip up, and its loose form, by which pack phrases are
//! matched as pieces of a longer phrase.

/// The key a phrase is looked up by: whitespace collapsed to single spaces
/// and trimmed; otherwise exact (case and punctuation matter, since they
/// change how a phrase is said).
pub fn phrase_key(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A phrase's loose form, used to match pieces: lower case, letters,
/// digits and apostrophes only, single spaces. "Resuming:" and "resuming"
/// match; so do "left-side" and "left side".
pub fn loose(text: &str) -> String {
    loose_words(text).join(" ")
}

/// The words of [`loose`], each in its loose form.
pub fn loose_words(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loose_forms_ignore_case_and_punctuation() {
        assert_eq!(loose("Resuming:"), "resuming");
        assert_eq!(loose("  Deep   stroking, "), "deep stroking");
        assert_eq!(loose("left-side"), "left side");
        assert_eq!(loose("Don't."), "don't");
        assert_eq!(loose("Ünïcødé 你好"), "ünïcødé 你好");
        assert_eq!(loose("..."), "");
    }
}
