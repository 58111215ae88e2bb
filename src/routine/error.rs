//! Why a routine file was refused: every problem names the file, the line
//! and column, the key, what was wrong and how to put it right.

use std::fmt;
use std::io;
use std::path::PathBuf;

use thiserror::Error;

use super::limits::MAX_FILE_BYTES;
use super::value::is_bidi_control;

/// One thing wrong in a routine file, at an exact place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file as it was named.
    pub file: PathBuf,
    /// 1-based line.
    pub line: u32,
    /// 1-based column, counted in characters.
    pub column: u32,
    /// Where in the routine, e.g. `step[3].reps` or `defaults.tempo`
    /// (steps and parts are numbered from 1, as a reader counts them).
    /// Empty when the problem is not about one key (broken TOML).
    pub key: String,
    /// What was wrong and, briefly, what is expected.
    pub message: String,
    /// How to fix it, when there is more to say.
    pub hint: Option<String>,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file.display(), self.line, self.column)?;
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// Why a routine could not be loaded.
#[derive(Debug, Error)]
pub enum RoutineError {
    /// The file could not be read.
    #[error("{}: cannot read the routine: {source}", file.display())]
    Read {
        file: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The file is larger than any routine needs to be.
    #[error(
        "{}: the file is {size} bytes, more than the limit of {} bytes (1 MiB) for a routine; is this the right file?",
        file.display(),
        MAX_FILE_BYTES
    )]
    TooLarge { file: PathBuf, size: u64 },
    /// The text is not a valid routine. Holds every problem found, in the
    /// order they appear in the file; never empty.
    #[error("{}", ProblemList(problems))]
    Invalid {
        file: PathBuf,
        problems: Vec<Problem>,
    },
}

impl RoutineError {
    /// The file the error is about.
    pub fn file(&self) -> &std::path::Path {
        match self {
            RoutineError::Read { file, .. }
            | RoutineError::TooLarge { file, .. }
            | RoutineError::Invalid { file, .. } => file,
        }
    }

    /// The problems found in the text, in file order; empty when the file
    /// could not be read at all.
    pub fn problems(&self) -> &[Problem] {
        match self {
            RoutineError::Invalid { problems, .. } => problems,
            _ => &[],
        }
    }
}

/// `text` made safe to print in a message: control characters, the
/// bidirectional controls and line or paragraph separators are written as
/// escapes (`\u{1b}`), so that text taken from a file can neither drive a
/// terminal nor reorder what it shows; text longer than `max_chars`
/// characters is shortened in the middle, keeping both ends.
pub(crate) fn printable(text: &str, max_chars: usize) -> String {
    let count = text.chars().count();
    let (head, tail) = if count > max_chars {
        (max_chars * 2 / 3, max_chars / 3)
    } else {
        (count, 0)
    };
    let mut out = String::with_capacity(text.len().min(4 * max_chars));
    let mut push = |c: char| {
        if c.is_control() || is_bidi_control(c) || matches!(c, '\u{2028}' | '\u{2029}') {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    };
    text.chars().take(head).for_each(&mut push);
    if head < count {
        push('…');
        text.chars().skip(count - tail).for_each(&mut push);
    }
    out
}

/// Problems one per paragraph.
struct ProblemList<'a>(&'a [Problem]);

impl fmt::Display for ProblemList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_escapes_what_drives_or_reorders_a_terminal() {
        assert_eq!(printable("Deep stroking", 100), "Deep stroking");
        assert_eq!(
            printable("a\u{1b}[2Jb\u{202e}c\u{7}\u{85}", 100),
            "a\\u{1b}[2Jb\\u{202e}c\\u{7}\\u{85}"
        );
        assert_eq!(printable("שלום\u{200f}", 100), "שלום\u{200f}");
        let long = "x".repeat(50) + &"y".repeat(50);
        assert_eq!(printable(&long, 30), "x".repeat(20) + "…" + &"y".repeat(10));
    }

    #[test]
    fn display_names_file_line_column_key_and_hint() {
        let problem = Problem {
            file: PathBuf::from("routines/x.toml"),
            line: 12,
            column: 9,
            key: "step[3].reps".into(),
            message: "0 is not a valid count; write a whole number from 1 to 1000".into(),
            hint: Some("`reps = 10`".into()),
        };
        assert_eq!(
            problem.to_string(),
            "routines/x.toml:12:9: step[3].reps: 0 is not a valid count; \
             write a whole number from 1 to 1000\n  hint: `reps = 10`"
        );
    }
}
