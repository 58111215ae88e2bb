//! Reading one value of a routine file: text, durations, counts and their
//! ranges, each checked against its limits. Knows nothing of where the
//! value sits in the file; the caller adds the place and the key.

use toml::de::DeValue;

use super::Span;
use super::limits::MAX_STRING_CHARS;
use crate::ms::Ms;

/// What is wrong with one value, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ValueError {
    pub message: String,
    pub hint: Option<String>,
}

impl ValueError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        ValueError {
            message: message.into(),
            hint: None,
        }
    }

    pub(crate) fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

type Result<T> = std::result::Result<T, ValueError>;

/// The allowed span of one kind of duration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DurationRule {
    /// For messages: "a step's time", "a tempo".
    pub what: &'static str,
    pub min: Ms,
    pub max: Ms,
    /// Whether `A-B` is allowed.
    pub range: bool,
}

/// The allowed span of one kind of count; the lowest is always 1.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CountRule {
    /// For messages: "repetitions", "rounds".
    pub noun: &'static str,
    pub max: u64,
}

/// How a value is described in a message: its type, and the value when
/// short.
pub(crate) fn describe(value: &DeValue<'_>) -> String {
    match value {
        DeValue::String(s) if s.chars().count() <= 40 => format!("the text {:?}", s.as_ref()),
        DeValue::String(_) => "text".to_owned(),
        DeValue::Integer(i) => format!("the number {i}"),
        DeValue::Float(f) => format!("the number {f}"),
        DeValue::Boolean(b) => format!("`{b}`"),
        DeValue::Datetime(_) => "a date".to_owned(),
        DeValue::Array(_) => "a list".to_owned(),
        DeValue::Table(_) => "a table".to_owned(),
    }
}

/// Whether `c` is one of the characters that make a terminal or editor
/// show text in another order than it is stored (embeddings, overrides and
/// isolates, U+202A to U+202E and U+2066 to U+2069), which can make a name
/// read as something else. Right-to-left text itself, and the zero-width
/// marks U+200E and U+200F that such text needs, are not among them.
pub(crate) fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Text that is spoken or printed: not empty, not huge, and free of
/// control characters (tabs allowed; line breaks only where `multiline`,
/// for prose such as tips) and of the bidirectional controls that reorder
/// what a terminal shows.
pub(crate) fn text(value: &DeValue<'_>, multiline: bool) -> Result<String> {
    let DeValue::String(s) = value else {
        return Err(ValueError::new(format!(
            "expected text in quotes, found {}",
            describe(value)
        ))
        .hint("write it in double quotes, e.g. \"Deep stroking\""));
    };
    if s.chars().nth(MAX_STRING_CHARS).is_some() {
        return Err(ValueError::new(format!(
            "the text is {} characters long, more than the limit of {MAX_STRING_CHARS}",
            s.chars().count()
        ))
        .hint("shorten it; a spoken cue should take seconds, not minutes"));
    }
    let allowed = |c: char| c == '\t' || (multiline && (c == '\n' || c == '\r'));
    if let Some((at, c)) = s
        .chars()
        .enumerate()
        .find(|&(_, c)| c.is_control() && !allowed(c))
    {
        let hint = if c == '\n' || c == '\r' {
            "write it on one line"
        } else {
            "remove it; only plain text can be spoken"
        };
        return Err(ValueError::new(format!(
            "the text contains the control character U+{:04X} at character {}",
            c as u32,
            at + 1
        ))
        .hint(hint));
    }
    if let Some((at, c)) = s.chars().enumerate().find(|&(_, c)| is_bidi_control(c)) {
        return Err(ValueError::new(format!(
            "the text contains the bidirectional control character U+{:04X} at character {}",
            c as u32,
            at + 1
        ))
        .hint("remove it; it makes the text show in another order than it is spoken"));
    }
    if s.trim().is_empty() {
        return Err(
            ValueError::new("the text is empty").hint("write something to say, or remove the key")
        );
    }
    Ok(s.trim().to_owned())
}

/// One duration (`"2s"`), never a range.
pub(crate) fn duration(value: &DeValue<'_>, rule: &DurationRule) -> Result<Ms> {
    let span = duration_span(
        value,
        &DurationRule {
            range: false,
            ..*rule
        },
    )?;
    Ok(span.low)
}

/// A duration (`"90s"`) or, where the rule allows, a range (`"1m-2m"`).
pub(crate) fn duration_span(value: &DeValue<'_>, rule: &DurationRule) -> Result<Span<Ms>> {
    let written = match value {
        DeValue::String(s) => s.as_ref(),
        DeValue::Integer(i) => {
            let n = i.to_string();
            return Err(
                ValueError::new(format!("{n} is a bare number; a duration needs a unit"))
                    .hint(format!("write it in quotes with a unit: \"{n}s\"")),
            );
        }
        DeValue::Float(f) => {
            let n = f.to_string();
            return Err(
                ValueError::new(format!("{n} is a bare number; a duration needs a unit"))
                    .hint(format!("write it in quotes with a unit: \"{n}s\"")),
            );
        }
        other => {
            return Err(ValueError::new(format!(
                "expected a duration in quotes, found {}",
                describe(other)
            ))
            .hint(example(rule)));
        }
    };
    let Some((low_text, high_text)) = written.split_once('-') else {
        let ms = one_duration(written, rule)?;
        return Ok(Span::exactly(ms));
    };
    let (low_text, high_text) = (low_text.trim(), high_text.trim());
    if low_text.is_empty() && !high_text.is_empty() {
        return Err(ValueError::new(format!(
            "\"{written}\" is negative; a duration is never less than zero"
        ))
        .hint(example(rule)));
    }
    if !rule.range {
        return Err(ValueError::new(format!(
            "\"{written}\" is a range, but {} is one duration",
            rule.what
        ))
        .hint(format!("pick one value, e.g. \"{low_text}\"")));
    }
    if high_text.contains('-') || low_text.is_empty() || high_text.is_empty() {
        return Err(
            ValueError::new(format!("\"{written}\" is not a duration range"))
                .hint("a range is two durations joined by \"-\", e.g. \"1m-2m\""),
        );
    }
    if is_bare_number(low_text) && !is_bare_number(high_text) {
        let unit = high_text.trim_start_matches(|c: char| c.is_ascii_digit() || c == '.');
        return Err(ValueError::new(format!(
            "\"{written}\": the low end of the range has no unit"
        ))
        .hint(format!(
            "write both ends with a unit, e.g. \"{low_text}{unit}-{high_text}\""
        )));
    }
    let low = one_duration(low_text, rule)?;
    let high = one_duration(high_text, rule)?;
    if low > high {
        return Err(
            ValueError::new(format!("the range \"{written}\" runs backwards")).hint(format!(
                "write the shorter end first: \"{high_text}-{low_text}\""
            )),
        );
    }
    Ok(Span { low, high })
}

fn is_bare_number(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_digit() || c == '.')
}

fn example(rule: &DurationRule) -> String {
    if rule.range {
        "write a duration like \"90s\", \"1m30s\", or a range like \"1m-2m\"".to_owned()
    } else {
        "write a duration like \"2s\", \"500ms\" or \"1m30s\"".to_owned()
    }
}

/// One written duration, checked against the rule's bounds.
fn one_duration(written: &str, rule: &DurationRule) -> Result<Ms> {
    let written = written.trim();
    if is_bare_number(written) {
        return Err(
            ValueError::new(format!("\"{written}\" has no unit")).hint(format!(
                "write \"{written}s\" for seconds, or use ms, m or h"
            )),
        );
    }
    let too_long = || {
        ValueError::new(format!(
            "{written} is longer than the limit of {} for {}",
            format_ms(rule.max),
            rule.what
        ))
    };
    let duration = match humantime::parse_duration(written) {
        Ok(d) => d,
        Err(humantime::DurationError::NumberOverflow) => return Err(too_long()),
        Err(humantime::DurationError::UnknownUnit { unit, .. }) if !unit.is_empty() => {
            return Err(
                ValueError::new(format!("\"{written}\" has an unknown unit \"{unit}\""))
                    .hint("use ms, s, m or h, e.g. \"500ms\", \"90s\", \"1m30s\", \"2h\""),
            );
        }
        Err(humantime::DurationError::Empty) => {
            return Err(ValueError::new("the duration is empty").hint(example(rule)));
        }
        Err(_) => {
            return Err(
                ValueError::new(format!("\"{written}\" is not a duration")).hint(example(rule))
            );
        }
    };
    let ms = Ms::try_from(duration.as_millis()).unwrap_or(Ms::MAX);
    if ms > rule.max {
        return Err(too_long());
    }
    if ms < rule.min {
        return Err(ValueError::new(format!(
            "{written} is shorter than the minimum of {} for {}",
            format_ms(rule.min),
            rule.what
        )));
    }
    Ok(ms)
}

/// A count (`10`, `"10"`) or a range (`"15-20"`), each from 1 to the limit.
pub(crate) fn count_span(value: &DeValue<'_>, rule: &CountRule) -> Result<Span<u32>> {
    match value {
        DeValue::Integer(i) => {
            let n = i128::from_str_radix(i.as_str(), i.radix()).unwrap_or(i128::MAX);
            let n = checked_count(n, &i.to_string(), rule)?;
            Ok(Span::exactly(n))
        }
        DeValue::Float(f) => Err(ValueError::new(format!(
            "{f} is not a whole number; write a whole number from 1 to {}",
            rule.max
        ))),
        DeValue::String(s) => {
            let written = s.trim();
            let Some((low_text, high_text)) = written.split_once('-') else {
                return Ok(Span::exactly(count_text(written, rule)?));
            };
            let (low_text, high_text) = (low_text.trim(), high_text.trim());
            if low_text.is_empty() && !high_text.is_empty() && !high_text.contains('-') {
                // "-5": a negative number in quotes
                return Err(not_a_count(written, rule));
            }
            if low_text.is_empty() || high_text.is_empty() || high_text.contains('-') {
                return Err(
                    ValueError::new(format!("\"{written}\" is not a count range"))
                        .hint("a range is two whole numbers joined by \"-\", e.g. \"15-20\""),
                );
            }
            let low = count_text(low_text, rule)?;
            let high = count_text(high_text, rule)?;
            if low > high {
                return Err(
                    ValueError::new(format!("the range \"{written}\" runs backwards"))
                        .hint(format!("write the smaller number first: \"{high}-{low}\"")),
                );
            }
            Ok(Span { low, high })
        }
        other => Err(
            ValueError::new(format!("expected a count, found {}", describe(other)))
                .hint("write a whole number like 10, or a range in quotes like \"15-20\""),
        ),
    }
}

fn count_text(written: &str, rule: &CountRule) -> Result<u32> {
    if written.is_empty() || !written.chars().all(|c| c.is_ascii_digit()) {
        return Err(ValueError::new(format!("\"{written}\" is not a count"))
            .hint("write a whole number like 10, or a range in quotes like \"15-20\""));
    }
    // all digits: only too many of them can fail, and that is over any limit
    let n = written.parse::<i128>().unwrap_or(i128::MAX);
    checked_count(n, written, rule)
}

fn checked_count(n: i128, written: &str, rule: &CountRule) -> Result<u32> {
    if n < 1 {
        return Err(not_a_count(written, rule));
    }
    if n > i128::from(rule.max) {
        return Err(ValueError::new(format!(
            "{written} {} is more than the limit of {}",
            rule.noun, rule.max
        )));
    }
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

fn not_a_count(written: &str, rule: &CountRule) -> ValueError {
    ValueError::new(format!(
        "{written} is not a valid count; write a whole number from 1 to {}",
        rule.max
    ))
}

/// A duration the way a person writes it: `2h`, `10m`, `90s`, `200ms`.
pub(crate) fn format_ms(ms: Ms) -> String {
    if ms == 0 {
        "0s".to_owned()
    } else if ms.is_multiple_of(3_600_000) {
        format!("{}h", ms / 3_600_000)
    } else if ms.is_multiple_of(60_000) {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIME: DurationRule = DurationRule {
        what: "a step's time",
        min: 1000,
        max: 7_200_000,
        range: true,
    };
    const TEMPO: DurationRule = DurationRule {
        what: "a tempo",
        min: 200,
        max: 60_000,
        range: false,
    };
    const REPS: CountRule = CountRule {
        noun: "repetitions",
        max: 1000,
    };

    fn value(toml: &str) -> DeValue<'_> {
        DeValue::parse(toml).expect("valid toml value").into_inner()
    }

    #[test]
    fn durations_use_humantime_syntax() {
        let any = DurationRule {
            what: "a test",
            min: 0,
            max: Ms::MAX,
            range: false,
        };
        for (written, ms) in [
            ("\"90s\"", 90_000),
            ("\"1m30s\"", 90_000),
            ("\"1m 30s\"", 90_000),
            ("\"2m\"", 120_000),
            ("\"500ms\"", 500),
            ("\"1.5s\"", 1500),
            ("\"1h\"", 3_600_000),
            ("\"0s\"", 0),
        ] {
            assert_eq!(duration(&value(written), &any), Ok(ms), "{written}");
        }
    }

    #[test]
    fn duration_ranges_resolve_both_ends() {
        assert_eq!(
            duration_span(&value("\"1m-2m\""), &TIME),
            Ok(Span {
                low: 60_000,
                high: 120_000
            })
        );
        assert_eq!(
            duration_span(&value("\"45s - 1m30s\""), &TIME),
            Ok(Span {
                low: 45_000,
                high: 90_000
            })
        );
    }

    #[test]
    fn a_range_missing_a_unit_says_how_to_write_it() {
        let err = duration_span(&value("\"1-2m\""), &TIME).unwrap_err();
        assert_eq!(
            err.hint.as_deref(),
            Some("write both ends with a unit, e.g. \"1m-2m\"")
        );
    }

    #[test]
    fn a_bare_number_duration_suggests_seconds() {
        let err = duration_span(&value("90"), &TIME).unwrap_err();
        assert!(err.hint.unwrap().contains("\"90s\""));
        let err = duration_span(&value("\"90\""), &TIME).unwrap_err();
        assert!(err.hint.unwrap().contains("\"90s\""));
    }

    #[test]
    fn durations_out_of_bounds_name_the_limit() {
        let err = duration_span(&value("\"9999h\""), &TIME).unwrap_err();
        assert_eq!(
            err.message,
            "9999h is longer than the limit of 2h for a step's time"
        );
        let err = duration_span(&value("\"99999999999999999999h\""), &TIME).unwrap_err();
        assert!(err.message.contains("limit of 2h"), "{}", err.message);
        let err = duration(&value("\"100ms\""), &TEMPO).unwrap_err();
        assert!(err.message.contains("minimum of 200ms"), "{}", err.message);
        let err = duration(&value("\"1s-2s\""), &TEMPO).unwrap_err();
        assert!(err.message.contains("is a range"), "{}", err.message);
    }

    #[test]
    fn counts_take_numbers_strings_and_ranges() {
        assert_eq!(count_span(&value("10"), &REPS), Ok(Span::exactly(10)));
        assert_eq!(count_span(&value("\"10\""), &REPS), Ok(Span::exactly(10)));
        assert_eq!(
            count_span(&value("\"15-20\""), &REPS),
            Ok(Span { low: 15, high: 20 })
        );
        assert_eq!(
            count_span(&value("\"4 - 10\""), &REPS),
            Ok(Span { low: 4, high: 10 })
        );
    }

    #[test]
    fn bad_counts_are_refused() {
        let message = |toml: &str| count_span(&value(toml), &REPS).unwrap_err().message;
        assert_eq!(
            message("0"),
            "0 is not a valid count; write a whole number from 1 to 1000"
        );
        assert_eq!(
            message("-5"),
            "-5 is not a valid count; write a whole number from 1 to 1000"
        );
        assert_eq!(
            message("\"-5\""),
            "-5 is not a valid count; write a whole number from 1 to 1000"
        );
        assert_eq!(
            message("1000000000"),
            "1000000000 repetitions is more than the limit of 1000"
        );
        assert_eq!(
            message("\"5-99999999999999999999999999999999999999999\""),
            "99999999999999999999999999999999999999999 repetitions is more than the limit of 1000"
        );
        assert!(message("\"20-15\"").contains("runs backwards"));
        assert!(message("\"ten\"").contains("is not a count"));
        assert!(message("2.5").contains("not a whole number"));
        assert!(message("true").contains("expected a count"));
    }

    #[test]
    fn text_refuses_control_characters_and_empty_text() {
        assert_eq!(text(&value("\"  Knead \""), false), Ok("Knead".to_owned()));
        assert!(
            text(&value("\"a\\u001bb\""), false)
                .unwrap_err()
                .message
                .contains("U+001B")
        );
        assert!(text(&value("\"a\\nb\""), false).is_err());
        let reversed = text(&value("\"evil\\u202Etxt.exe\""), false).unwrap_err();
        assert!(
            reversed.message.contains("U+202E at character 5"),
            "{reversed:?}"
        );
        assert!(text(&value("\"a\\u2066b\\u2069\""), true).is_err());
        // right-to-left text and its marks are fine
        assert!(text(&value("\"\\u200fשלום\""), false).is_ok());
        assert_eq!(text(&value("\"a\\nb\""), true), Ok("a\nb".to_owned()));
        assert!(text(&value("\"a\\tb\""), false).is_ok());
        assert!(
            text(&value("\"  \""), false)
                .unwrap_err()
                .message
                .contains("empty")
        );
        assert!(
            text(&value("5"), false)
                .unwrap_err()
                .message
                .contains("the number 5")
        );
    }

    #[test]
    fn milliseconds_are_written_in_the_largest_whole_unit() {
        assert_eq!(format_ms(7_200_000), "2h");
        assert_eq!(format_ms(600_000), "10m");
        assert_eq!(format_ms(90_000), "90s");
        assert_eq!(format_ms(200), "200ms");
    }
}
