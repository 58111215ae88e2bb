//! A JSON Schema of the routine file format, for editors that check and
//! complete TOML files against one (a routine names it in a first-line
//! `#:schema` comment). It is built from the parser's own key lists and
//! limits, so it says what the parser accepts; `docs/routine.schema.json`
//! is this schema written out (`massage-cue schema`).
//!
//! The schema is a helper for editors: it knows the keys, their types,
//! words and bounds. The parser stays the authority; it also checks what a
//! schema cannot say well (a duration's bounds, a range running
//! backwards, the size of a whole routine).

use serde_json::{Map, Value, json};

use super::limits::{MAX_CAUTIONS, MAX_PARTS, MAX_SIDES, MAX_STEPS, MAX_STRING_CHARS};
use super::parse::{
    COURSE, DEFAULT_KEYS, HOLD, LENGTH, POSITIONS, REPS, REST, ROUNDS, STEP_KEYS, TEMPO, TIME,
    TOP_KEYS, TRANSITION,
};
use super::value::{CountRule, DurationRule, format_ms};

/// The JSON Schema dialect used: the one editors' TOML support knows best.
const DIALECT: &str = "http://json-schema.org/draft-07/schema#";

/// One duration as humantime writes it: `90s`, `1m30s`, `1m 30s`, `200ms`.
const DURATION: &str = r"[0-9]+ *[A-Za-zµ]+(?: *[0-9]+ *[A-Za-zµ]+)*";

/// A count written as text: `"10"` or a range `"15-20"`.
const COUNT_TEXT: &str = r"^ *[0-9]+ *(?:- *[0-9]+ *)?$";

/// Which table of a routine file a key is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// The top level of the file.
    Top,
    /// `[defaults]`.
    Defaults,
    /// A `[[step]]`.
    Step,
    /// A `[[step.part]]`.
    Part,
}

impl Table {
    /// The keys the parser accepts in this table.
    pub fn keys(self) -> Vec<&'static str> {
        match self {
            Table::Top => TOP_KEYS.to_vec(),
            Table::Defaults => DEFAULT_KEYS.to_vec(),
            Table::Step => STEP_KEYS.to_vec(),
            // parts take a step's keys, but never parts of their own, and
            // only a whole step waits
            Table::Part => STEP_KEYS
                .iter()
                .copied()
                .filter(|&k| k != "part" && k != "wait")
                .collect(),
        }
    }

    /// Where the table's own schema is, under `definitions`.
    fn definition(self) -> &'static str {
        match self {
            Table::Top => "",
            Table::Defaults => "defaults",
            Table::Step => "step",
            Table::Part => "part",
        }
    }
}

/// The schema of a routine file, as JSON.
pub fn routine_schema() -> Value {
    let mut schema = table(Table::Top);
    let object = schema.as_object_mut().expect("a table is an object");
    let mut head = Map::new();
    head.insert("$schema".into(), json!(DIALECT));
    head.insert("title".into(), json!("massage-cue routine"));
    head.insert(
        "description".into(),
        json!(
            "A massage routine for massage-cue: its steps in order, each timed, counted, or \
             a group of parts. `massage-cue check FILE` explains every mistake."
        ),
    );
    head.append(object);
    head.insert(
        "definitions".into(),
        json!({
            "defaults": table(Table::Defaults),
            "step": table(Table::Step),
            "part": table(Table::Part),
        }),
    );
    Value::Object(head)
}

/// The schema of one table: its keys and nothing else, the required ones,
/// and for steps and parts exactly one kind of work.
fn table(table: Table) -> Value {
    let properties: Map<String, Value> = table
        .keys()
        .into_iter()
        .map(|key| {
            let schema = property(table, key).unwrap_or_else(|| {
                panic!("the routine schema does not describe `{key}` in {table:?}")
            });
            (key.to_owned(), schema)
        })
        .collect();
    let mut schema = json!({
        "type": "object",
        "additionalProperties": false,
        "properties": properties,
    });
    let (required, work): (&[&str], &[&str]) = match table {
        Table::Top => (&["name", "step"], &[]),
        Table::Defaults => (&[], &[]),
        Table::Step => (&["name"], &["time", "reps", "part", "wait"]),
        Table::Part => (&["name"], &["time", "reps"]),
    };
    if !required.is_empty() {
        schema["required"] = json!(required);
    }
    if !work.is_empty() {
        schema["oneOf"] = work
            .iter()
            .map(|key| json!({ "required": [key] }))
            .collect();
        let described = work
            .iter()
            .map(|k| format!("`{k}`"))
            .collect::<Vec<_>>()
            .join(", ");
        schema["description"] = json!(format!("Exactly one of {described} says what its work is."));
    }
    if table != Table::Top {
        schema["title"] = json!(table.definition());
    }
    schema
}

/// The schema of one key in one table; `None` for a key this module does
/// not know, which the tests catch.
fn property(table: Table, key: &str) -> Option<Value> {
    let in_defaults = table == Table::Defaults;
    let schema = match (table, key) {
        (Table::Top, "name") => text("Spoken at the start of the session.", false),
        (Table::Top, "description") => text("Shown by `list` and `show`.", true),
        (Table::Top, "kind") => words(
            "Who massages whom: `partner` (the default) or `self`.",
            &["partner", "self"],
        ),
        (Table::Top, "length") => duration(
            &LENGTH,
            "The recommended session length, e.g. \"10m-40m\"; `--length` outside it warns.",
        ),
        (Table::Top, "course") => count(
            &COURSE,
            "The recommended number of sessions in a course, e.g. \"10-15\".",
        ),
        (Table::Top, "cautions") => json!({
            "description": "Spoken and printed before the session starts; never skipped.",
            "type": "array",
            "maxItems": MAX_CAUTIONS,
            "items": text_schema(true),
        }),
        (Table::Top, "prepare") => text("Spoken before step 1: positioning, oil, towels.", true),
        (Table::Top, "defaults") => json!({
            "description": "Keys inherited by every step that does not set them: the pace, \
                            holds, rests, transition times and hold words.",
            "$ref": "#/definitions/defaults",
        }),
        (Table::Top, "step") => json!({
            "description": "The steps in order.",
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_STEPS,
            "items": { "$ref": "#/definitions/step" },
        }),
        (Table::Step, "part") => json!({
            "description": "A group step's parts, in order; they take a step's keys, but no parts of their own.",
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_PARTS,
            "items": { "$ref": "#/definitions/part" },
        }),
        (Table::Step | Table::Part, "name") => {
            text("The technique; announced when the step starts.", false)
        }
        (Table::Step | Table::Part, "say") => {
            text("Spoken instead of `name` at the announcement.", false)
        }
        (Table::Step | Table::Part, "tip") => text(
            "How to do it: spoken only at detail level `full`, printed always.",
            true,
        ),
        (Table::Step | Table::Part, "time") => duration(
            &TIME,
            "A timed step: \"90s\", \"1m30s\", or a range \"1m-2m\".",
        ),
        (Table::Step | Table::Part, "reps") => count(
            &REPS,
            "A counted step: its repetitions, 10 or a range \"15-20\".",
        ),
        (Table::Step | Table::Part | Table::Defaults, "tempo") => duration(
            &TEMPO,
            if in_defaults {
                "One repetition every `tempo`, for every step that does not say (default \"2s\")."
            } else {
                "One repetition every `tempo` (default \"2s\")."
            },
        ),
        (Table::Step | Table::Part | Table::Defaults, "hold") => duration(
            &HOLD,
            "Each repetition is \"press… hold… release\" for this long; \"0s\" for no hold.",
        ),
        (Table::Step | Table::Part | Table::Defaults, "rest") => {
            duration(&REST, "A pause after each repetition with a hold.")
        }
        (Table::Step | Table::Part | Table::Defaults, "change") => duration(
            &TRANSITION,
            "Time to change to a new step, part or round, after it is announced and before \
             work starts (default \"4s\", \"3s\" for self-massage).",
        ),
        (Table::Step | Table::Part | Table::Defaults, "switch") => duration(
            &TRANSITION,
            "Time to change sides, after \"Switch to the right side.\" and before work starts \
             (default \"8s\", long enough to walk round a table; \"3s\" for self-massage).",
        ),
        (Table::Step | Table::Part | Table::Defaults, "move_time") => duration(
            &TRANSITION,
            "Time to move to the next position, after `move` is said and before work starts \
             (default \"2s\").",
        ),
        (Table::Step | Table::Part | Table::Defaults, "hold_say") => text(
            "Said at the start of each hold (default \"Press.\"), e.g. \"Stretch.\"",
            false,
        ),
        (Table::Step | Table::Part | Table::Defaults, "release_say") => text(
            "Said at the end of each hold (default \"Release.\"), e.g. \"And relax.\"",
            false,
        ),
        (Table::Step | Table::Part, "between") => text(
            "Said after each held repetition, in the rest before the next, e.g. \
             \"Move down about a centimetre.\"",
            false,
        ),
        (Table::Step | Table::Part, "restart") => text(
            "Said when the work goes back to the first position for a new side or round, \
             e.g. \"Start again at the top.\"",
            false,
        ),
        (Table::Step, "wait") => json!({
            "description": "The step is announced, then the session waits for the go signal \
                            (resume, play, a media key): turning over, warming with a lamp.",
            "const": true,
        }),
        (Table::Step | Table::Part | Table::Defaults, "count") => words(
            "How repetitions are spoken: every number; every fifth, the last three and \
             \"last one\"; or a soft tick only.",
            &["every", "milestones", "none"],
        ),
        (Table::Step | Table::Part, "sides") => json!({
            "description": "The step runs once per side, with a side cue between, e.g. [\"left\", \"right\"].",
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_SIDES,
            "uniqueItems": true,
            "items": text_schema(false),
        }),
        (Table::Step | Table::Part, "positions") => json!({
            "description": format!(
                "The work repeats at each position, moving along the body: a number (1 to {}) \
                 or the positions' names; `move` is spoken between them.",
                POSITIONS.max
            ),
            "oneOf": [
                { "type": "integer", "minimum": 1, "maximum": POSITIONS.max },
                { "type": "string", "pattern": r"^ *[0-9]+ *$" },
                {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": POSITIONS.max,
                    "items": text_schema(false),
                },
            ],
        }),
        (Table::Step | Table::Part, "move") => text(
            "Spoken between positions, e.g. \"Move down one palm width.\"",
            false,
        ),
        (Table::Step | Table::Part, "rounds") => count(
            &ROUNDS,
            "The step (parts, sides and all) is repeated this many times.",
        ),
        _ => return None,
    };
    Some(schema)
}

/// Text: not empty, at most [`MAX_STRING_CHARS`] characters, on one line
/// unless `multiline`.
fn text_schema(multiline: bool) -> Value {
    let pattern = if multiline {
        r"\S"
    } else {
        r"^[^\r\n]*\S[^\r\n]*$"
    };
    json!({
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_STRING_CHARS,
        "pattern": pattern,
    })
}

fn text(description: &str, multiline: bool) -> Value {
    let mut schema = text_schema(multiline);
    schema["description"] = json!(description);
    schema
}

fn words(description: &str, choices: &[&str]) -> Value {
    json!({ "description": description, "type": "string", "enum": choices })
}

/// A duration in quotes, or a range `"A-B"` where the rule allows one; its
/// bounds are in the description.
fn duration(rule: &DurationRule, description: &str) -> Value {
    let pattern = if rule.range {
        format!("^ *{DURATION} *(?:- *{DURATION} *)?$")
    } else {
        format!("^ *{DURATION} *$")
    };
    let bounds = if rule.min == 0 {
        format!("at most {}", format_ms(rule.max))
    } else {
        format!("from {} to {}", format_ms(rule.min), format_ms(rule.max))
    };
    json!({
        "description": format!("{description} A duration, {bounds}."),
        "type": "string",
        "pattern": pattern,
    })
}

/// A whole number, or in quotes a number or a range `"A-B"`.
fn count(rule: &CountRule, description: &str) -> Value {
    json!({
        "description": format!("{description} From 1 to {}.", rule.max),
        "oneOf": [
            { "type": "integer", "minimum": 1, "maximum": rule.max },
            { "type": "string", "pattern": COUNT_TEXT },
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn property_names(table: &Value) -> Vec<&str> {
        let mut names: Vec<&str> = table["properties"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        names.sort_unstable();
        names
    }

    fn sorted(mut keys: Vec<&'static str>) -> Vec<&'static str> {
        keys.sort_unstable();
        keys
    }

    #[test]
    fn every_table_has_exactly_the_keys_the_parser_accepts() {
        let schema = routine_schema();
        assert_eq!(property_names(&schema), sorted(Table::Top.keys()));
        for table in [Table::Defaults, Table::Step, Table::Part] {
            assert_eq!(
                property_names(&schema["definitions"][table.definition()]),
                sorted(table.keys()),
                "{table:?}"
            );
        }
        assert!(!Table::Part.keys().contains(&"part"));
    }

    /// Whether `text` is valid against a string schema.
    fn accepts(schema: &Value, text: &str) -> bool {
        jsonschema::is_valid(schema, &json!(text))
    }

    #[test]
    fn duration_patterns_take_what_the_parser_takes() {
        let ranged = duration(&TIME, "");
        let single = duration(&TEMPO, "");
        for ok in ["90s", "1m30s", "1m 30s", "200ms", "2h"] {
            assert!(accepts(&ranged, ok) && accepts(&single, ok), "{ok}");
        }
        for ok in ["1m-2m", "30s - 1m"] {
            assert!(accepts(&ranged, ok), "{ok}");
            assert!(!accepts(&single, ok), "{ok}");
        }
        for bad in ["90", "1-2m", "s", "", "1m-", "-1m"] {
            assert!(!accepts(&ranged, bad), "{bad}");
        }
    }

    #[test]
    fn counts_are_numbers_or_ranges_in_quotes() {
        let reps = count(&REPS, "");
        for ok in [json!(10), json!("10"), json!("15-20")] {
            assert!(jsonschema::is_valid(&reps, &ok), "{ok}");
        }
        for bad in [
            json!(0),
            json!(REPS.max + 1),
            json!(1.5),
            json!("ten"),
            json!("1-"),
        ] {
            assert!(!jsonschema::is_valid(&reps, &bad), "{bad}");
        }
    }

    #[test]
    fn one_line_text_refuses_line_breaks_and_blanks() {
        let line = text_schema(false);
        assert!(accepts(&line, "Deep stroking"));
        for bad in ["", "   ", "two\nlines"] {
            assert!(!accepts(&line, bad), "{bad:?}");
        }
        assert!(accepts(&text_schema(true), "two\nlines"));
    }
}
