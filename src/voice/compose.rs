//! Saying a phrase the pack does not hold by joining pack clips: "Resuming:
//! deep stroking, 7 of 15." from "Resuming.", "deep stroking", "7", "of" and
//! "15", choosing the longest known pieces, with short gaps between them.

use crate::ms::Ms;

use super::pack::Pack;
use super::phrase::loose_words;

/// The gap between two pieces within a clause.
pub const WORD_GAP_MS: Ms = 70;
/// The gap after a piece that ends in punctuation (a comma, a stop).
pub const PAUSE_GAP_MS: Ms = 250;
/// The longest run of words tried as one piece.
const MAX_PIECE_WORDS: usize = 8;

/// A word of the phrase, and whether the phrase pauses after it.
#[derive(Debug)]
struct Word {
    text: String,
    pause: bool,
}

fn words(text: &str) -> Vec<Word> {
    let mut out = Vec::new();
    for token in text.split_whitespace() {
        let parts = loose_words(token);
        let n = parts.len();
        let pause = token.ends_with([',', '.', ';', ':', '!', '?']);
        for (i, part) in parts.into_iter().enumerate() {
            out.push(Word {
                text: part,
                pause: pause && i + 1 == n,
            });
        }
    }
    out
}

/// A plan for saying `text` from pack phrases: each piece's pack key and the
/// gap after it. `None` when some word is in no pack phrase, or the phrase
/// has no words at all.
pub fn pieces(pack: &Pack, text: &str) -> Option<Vec<(String, Ms)>> {
    let words = words(text);
    if words.is_empty() {
        return None;
    }
    let mut out: Vec<(String, Ms)> = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let longest = (i + 1..=words.len().min(i + MAX_PIECE_WORDS))
            .rev()
            .find_map(|j| {
                let loose: Vec<&str> = words[i..j].iter().map(|w| w.text.as_str()).collect();
                pack.key_for_loose(&loose.join(" ")).map(|key| (j, key))
            });
        let (j, key) = longest?;
        let gap = if words[j - 1].pause {
            PAUSE_GAP_MS
        } else {
            WORD_GAP_MS
        };
        out.push((key.to_string(), gap));
        i = j;
    }
    if let Some(last) = out.last_mut() {
        last.1 = 0;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn pack_of(keys: &[&str]) -> (tempfile::TempDir, Pack) {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("voice")).unwrap();
        let body: String = keys
            .iter()
            .enumerate()
            .map(|(i, k)| format!("speech\t{k}\tvoice/{i}.ogg\t0\t11025\t500\th\n"))
            .collect();
        fs::write(dir.path().join("voice/index.tsv"), body).unwrap();
        let pack = Pack::open(dir.path()).unwrap();
        (dir, pack)
    }

    #[test]
    fn the_longest_known_pieces_are_chosen() {
        let (_d, pack) = pack_of(&[
            "Resuming.",
            "Resuming:",
            "deep",
            "Deep stroking.",
            "stroking",
            "7",
            "of",
            "15",
            "7 of",
        ]);
        let got = pieces(&pack, "Resuming: deep stroking, 7 of 15.").unwrap();
        assert_eq!(
            got,
            vec![
                ("Resuming.".to_string(), PAUSE_GAP_MS),
                ("Deep stroking.".to_string(), PAUSE_GAP_MS),
                ("7 of".to_string(), WORD_GAP_MS),
                ("15".to_string(), 0),
            ]
        );
    }

    #[test]
    fn an_unknown_word_means_no_composition() {
        let (_d, pack) = pack_of(&["Round", "of", "3"]);
        assert!(pieces(&pack, "Round 11 of 3.").is_none());
        assert!(pieces(&pack, "").is_none());
        assert!(pieces(&pack, " ... ").is_none());
        assert_eq!(pieces(&pack, "round 3").unwrap().len(), 2);
    }
}
