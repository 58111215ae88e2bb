//! "Did you mean `tempo`?" for misspelled keys and values.

/// The candidate closest to `word`, when it is close enough to be the
/// likely intent: a letter or two off (one for short words), or a
/// different case. `synonyms` maps words people write for a key
/// (`duration`) to the key (`time`).
pub fn closest<'a>(
    word: &str,
    candidates: &[&'a str],
    synonyms: &[(&str, &'a str)],
) -> Option<&'a str> {
    let lower = word.to_lowercase();
    if let Some((_, key)) = synonyms.iter().find(|(said, _)| *said == lower) {
        return Some(key);
    }
    let allowed = (lower.chars().count() / 3).max(1);
    candidates
        .iter()
        .map(|&c| (strsim::damerau_levenshtein(&lower, c), c))
        .filter(|&(distance, _)| distance <= allowed)
        .min_by_key(|&(distance, _)| distance)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYS: &[&str] = &["tempo", "time", "tip", "reps", "rest", "part", "positions"];

    #[test]
    fn near_misses_find_the_key() {
        assert_eq!(closest("tmepo", KEYS, &[]), Some("tempo"));
        assert_eq!(closest("Tempo", KEYS, &[]), Some("tempo"));
        assert_eq!(closest("parts", KEYS, &[]), Some("part"));
        assert_eq!(closest("positon", KEYS, &[]), Some("positions"));
    }

    #[test]
    fn unrelated_words_find_nothing() {
        assert_eq!(closest("colour", KEYS, &[]), None);
        assert_eq!(closest("x", KEYS, &[]), None);
    }

    #[test]
    fn synonyms_map_to_their_key() {
        assert_eq!(
            closest("Duration", KEYS, &[("duration", "time")]),
            Some("time")
        );
    }
}
