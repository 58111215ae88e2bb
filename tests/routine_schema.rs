//! The JSON Schema of routine files (`docs/routine.schema.json`) stays in
//! step with the parser: it is the schema the code builds, it has exactly
//! the keys the parser accepts, every bundled routine names it and
//! validates against it, and files the parser refuses for their keys or
//! words are refused by it too.
//!
//! `UPDATE_SCHEMA=1 cargo test --test integration routine_schema` rewrites the file.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use massage_cue::routine::parse_routine;
use massage_cue::routine::schema::{Table, routine_schema};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The first line of every bundled routine: editors with TOML schema
/// support check and complete the file with it.
const SCHEMA_LINE: &str = "#:schema ../docs/routine.schema.json";

fn schema_file() -> PathBuf {
    Path::new(ROOT).join("docs/routine.schema.json")
}

fn shipped_schema() -> Value {
    serde_json::from_str(&fs::read_to_string(schema_file()).unwrap()).unwrap()
}

fn validator() -> jsonschema::Validator {
    jsonschema::validator_for(&shipped_schema()).expect("the schema is a valid JSON Schema")
}

fn bundled_routines() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(Path::new(ROOT).join("routines"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "{files:?}");
    files
}

/// A routine's TOML as the JSON value a schema checks.
fn as_json(text: &str) -> Value {
    toml::from_str(text).unwrap()
}

/// Every problem the schema finds, one a line.
fn schema_errors(validator: &jsonschema::Validator, text: &str) -> Vec<String> {
    let instance = as_json(text);
    validator
        .iter_errors(&instance)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

#[test]
fn the_shipped_schema_is_the_one_the_code_builds() {
    let built = serde_json::to_string_pretty(&routine_schema()).unwrap() + "\n";
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        fs::write(schema_file(), &built).unwrap();
    }
    let shipped = fs::read_to_string(schema_file()).unwrap();
    assert!(
        shipped == built,
        "docs/routine.schema.json is out of date; rewrite it with \
         UPDATE_SCHEMA=1 cargo test --test integration routine_schema (or massage-cue schema)"
    );
}

#[test]
fn the_schema_has_exactly_the_keys_the_parser_accepts() {
    let schema = shipped_schema();
    let tables = [
        (Table::Top, &schema),
        (Table::Defaults, &schema["definitions"]["defaults"]),
        (Table::Step, &schema["definitions"]["step"]),
        (Table::Part, &schema["definitions"]["part"]),
    ];
    for (table, in_schema) in tables {
        let mut named: Vec<&str> = in_schema["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("no properties for {table:?}"))
            .keys()
            .map(String::as_str)
            .collect();
        named.sort_unstable();
        let mut accepted = table.keys();
        accepted.sort_unstable();
        assert_eq!(named, accepted, "{table:?}");
        assert_eq!(in_schema["additionalProperties"], false, "{table:?}");
    }
}

#[test]
fn every_bundled_routine_names_the_schema_and_validates() {
    let validator = validator();
    for file in bundled_routines() {
        let text = fs::read_to_string(&file).unwrap();
        assert_eq!(
            text.lines().next(),
            Some(SCHEMA_LINE),
            "{} must start with the schema line",
            file.display()
        );
        let named = SCHEMA_LINE.trim_start_matches("#:schema ");
        assert!(
            file.parent().unwrap().join(named).is_file(),
            "{named} does not lead from {} to the schema",
            file.display()
        );
        let errors = schema_errors(&validator, &text);
        assert!(
            errors.is_empty(),
            "{}:\n{}",
            file.display(),
            errors.join("\n")
        );
        // the parser takes it too, schema line and all
        parse_routine(&text, &file).unwrap();
    }
}

#[test]
fn files_the_parser_refuses_for_their_keys_are_refused_by_the_schema() {
    let validator = validator();
    let cases = [
        (
            "a misspelled top-level key",
            "nmae = \"x\"\n[[step]]\nname = \"a\"\nreps = 5\n",
        ),
        ("no steps", "name = \"x\"\n"),
        (
            "a step with no work",
            "name = \"x\"\n[[step]]\nname = \"a\"\n",
        ),
        (
            "a step both timed and counted",
            "name = \"x\"\n[[step]]\nname = \"a\"\nreps = 5\ntime = \"30s\"\n",
        ),
        (
            "a misspelled step key",
            "name = \"x\"\n[[step]]\nname = \"a\"\nrepetitions = 5\n",
        ),
        (
            "parts in parts",
            "name = \"x\"\n[[step]]\nname = \"a\"\n[[step.part]]\nname = \"b\"\n\
             [[step.part.part]]\nname = \"c\"\nreps = 2\n",
        ),
        (
            "an unknown key in defaults",
            "name = \"x\"\n[defaults]\ntime = \"1m\"\n[[step]]\nname = \"a\"\nreps = 5\n",
        ),
        (
            "a bad kind",
            "name = \"x\"\nkind = \"solo\"\n[[step]]\nname = \"a\"\nreps = 5\n",
        ),
        (
            "a bad way of counting",
            "name = \"x\"\n[[step]]\nname = \"a\"\nreps = 5\ncount = \"all\"\n",
        ),
        (
            "a duration without a unit",
            "name = \"x\"\n[[step]]\nname = \"a\"\ntime = \"90\"\n",
        ),
        (
            "a range with one unit",
            "name = \"x\"\n[[step]]\nname = \"a\"\ntime = \"1-2m\"\n",
        ),
        (
            "a tempo range",
            "name = \"x\"\n[[step]]\nname = \"a\"\nreps = 5\ntempo = \"1s-2s\"\n",
        ),
        (
            "zero reps",
            "name = \"x\"\n[[step]]\nname = \"a\"\nreps = 0\n",
        ),
        (
            "a name on two lines",
            "name = \"x\\ny\"\n[[step]]\nname = \"a\"\nreps = 5\n",
        ),
    ];
    for (what, text) in cases {
        assert!(
            parse_routine(text, Path::new("case.toml")).is_err(),
            "the parser takes {what}"
        );
        assert!(
            !schema_errors(&validator, text).is_empty(),
            "the schema takes {what}:\n{text}"
        );
    }
}

#[test]
fn routines_using_every_key_are_taken_by_both() {
    let validator = validator();
    let text = r#"
name = "Every key"
description = "A routine that uses every key."
kind = "self"
length = "5m-20m"
course = "10-15"
cautions = ["Not on broken skin.", "Stop if it hurts."]
prepare = "Sit upright."

[defaults]
tempo = "3s"
count = "milestones"
rest = "5s"
hold = "0s"

[[step]]
name = "Stroking"
say = "Stroke the back"
tip = """Long strokes,
from the waist up."""
reps = "15-20"
tempo = "2s"
count = "every"
sides = ["left", "right"]
positions = ["neck", "upper back"]
move = "Move down a hand's width."
rounds = 2

[[step]]
name = "Pressing"
reps = 5
hold = "3s-5s"
rest = "2s"
positions = 3

[[step]]
name = "Group"
rounds = "1-2"
[[step.part]]
name = "Rub"
time = "1m-2m"
[[step.part]]
name = "Tap"
reps = "10"
count = "none"
"#;
    parse_routine(text, Path::new("every-key.toml")).unwrap();
    let errors = schema_errors(&validator, text);
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}
