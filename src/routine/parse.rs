//! Routine files: TOML text → the validated [`Routine`]. Every problem is
//! reported with its file, line, column and key; all problems in a file
//! are collected, in file order, so one `check` shows them all.

use std::fs::OpenOptions;
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use toml::Spanned;
use toml::de::{DeString, DeTable, DeValue};

use super::error::{Problem, RoutineError, printable};
use super::limits::*;
use super::value::{
    self, CountRule, DurationRule, ValueError, count_span, duration, duration_span, format_ms, text,
};
use super::{CountMode, Kind, Positions, Routine, Span, Step, Transitions, Work};
use crate::line_index::LineIndex;
use crate::ms::Ms;
use crate::suggest::closest;

/// Reads and validates a routine file. Files over 1 MiB are refused before
/// they are read; I/O errors name the file.
pub fn load_routine(path: &Path) -> Result<Routine, RoutineError> {
    let read_error = |source| RoutineError::Read {
        file: path.to_path_buf(),
        source,
    };
    // opened without waiting, so that a FIFO named by mistake is refused
    // below instead of blocking until something writes to it
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)
        .map_err(read_error)?;
    let metadata = file.metadata().map_err(read_error)?;
    if !metadata.is_file() {
        return Err(read_error(io::Error::other(
            "it is not a regular file (a folder, a device or a pipe)",
        )));
    }
    let size = metadata.len();
    if size > MAX_FILE_BYTES {
        return Err(RoutineError::TooLarge {
            file: path.to_path_buf(),
            size,
        });
    }
    // the size can change between the look and the read; never read more
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(RoutineError::TooLarge {
            file: path.to_path_buf(),
            size: size.max(bytes.len() as u64),
        });
    }
    match String::from_utf8(bytes) {
        Ok(text) => parse_routine(&text, path),
        Err(err) => {
            let valid = err.utf8_error().valid_up_to();
            let text = String::from_utf8_lossy(&err.as_bytes()[..valid]);
            let (line, column) = LineIndex::new(&text).locate(valid);
            Err(RoutineError::Invalid {
                file: path.to_path_buf(),
                problems: vec![Problem {
                    file: path.to_path_buf(),
                    line,
                    column,
                    key: String::new(),
                    message: "the file is not UTF-8 text".to_owned(),
                    hint: Some("save the routine as UTF-8 text".to_owned()),
                }],
            })
        }
    }
}

/// Validates the text of a routine; `file` names it in errors and becomes
/// [`Routine::source`].
pub fn parse_routine(text: &str, file: &Path) -> Result<Routine, RoutineError> {
    let mut checker = Checker {
        file,
        lines: LineIndex::new(text),
        problems: Vec::new(),
    };
    let (document, errors) = DeTable::parse_recoverable(text);
    if !errors.is_empty() {
        // what follows a syntax error is guesswork: report only the syntax
        for error in &errors {
            checker.toml_error(text, error);
        }
        return Err(checker.into_error());
    }
    let routine = checker.routine(document.get_ref());
    match routine {
        Some(mut routine) if checker.problems.is_empty() => {
            routine.source = Some(file.to_path_buf());
            Ok(routine)
        }
        _ => Err(checker.into_error()),
    }
}

type Value<'i> = Spanned<DeValue<'i>>;

/// Problems reported for one file; past these, only how many more there
/// are. A file with this many is most likely not a routine at all.
const MAX_PROBLEMS: usize = 100;
/// The longest key path, and the longest message or hint, in a problem
/// (in characters); text from the file makes them longer only by mistake.
const MAX_KEY_CHARS: usize = 120;
const MAX_MESSAGE_CHARS: usize = 500;

pub(super) const TOP_KEYS: &[&str] = &[
    "name",
    "description",
    "kind",
    "length",
    "course",
    "cautions",
    "prepare",
    "defaults",
    "step",
];
pub(super) const DEFAULT_KEYS: &[&str] = &[
    "tempo",
    "count",
    "rest",
    "hold",
    "change",
    "switch",
    "move_time",
    "hold_say",
    "release_say",
];
pub(super) const STEP_KEYS: &[&str] = &[
    "name",
    "say",
    "tip",
    "time",
    "reps",
    "part",
    "tempo",
    "hold",
    "rest",
    "count",
    "sides",
    "positions",
    "move",
    "rounds",
    "change",
    "switch",
    "move_time",
    "between",
    "restart",
    "hold_say",
    "release_say",
    "wait",
];
/// Words people write for a step key.
const STEP_SYNONYMS: &[(&str, &str)] = &[
    ("duration", "time"),
    ("seconds", "time"),
    ("minutes", "time"),
    ("repetitions", "reps"),
    ("repeats", "reps"),
    ("times", "reps"),
    ("text", "say"),
    ("speak", "say"),
    ("note", "tip"),
    ("notes", "tip"),
    ("instructions", "tip"),
    ("repeat", "rounds"),
    ("parts", "part"),
    ("transition", "change"),
    ("press", "hold_say"),
    ("release", "release_say"),
    ("pause", "wait"),
];

pub(super) const TIME: DurationRule = DurationRule {
    what: "a step's time",
    min: MIN_TIME,
    max: MAX_TIME,
    range: true,
};
pub(super) const TEMPO: DurationRule = DurationRule {
    what: "a tempo",
    min: MIN_TEMPO,
    max: MAX_TEMPO,
    range: false,
};
/// Checked against [`MIN_HOLD`] separately: `"0s"` means no hold.
pub(super) const HOLD: DurationRule = DurationRule {
    what: "a hold",
    min: 0,
    max: MAX_HOLD,
    range: true,
};
pub(super) const REST: DurationRule = DurationRule {
    what: "a rest",
    min: 0,
    max: MAX_REST,
    range: false,
};
/// `change`, `switch` and `move_time`: the time to move at a change.
pub(super) const TRANSITION: DurationRule = DurationRule {
    what: "a transition time",
    min: 0,
    max: MAX_REST,
    range: false,
};
pub(super) const LENGTH: DurationRule = DurationRule {
    what: "a session's length",
    min: MIN_LENGTH,
    max: MAX_LENGTH,
    range: true,
};
pub(super) const REPS: CountRule = CountRule {
    noun: "repetitions",
    max: MAX_REPS,
};
pub(super) const ROUNDS: CountRule = CountRule {
    noun: "rounds",
    max: MAX_ROUNDS,
};
pub(super) const POSITIONS: CountRule = CountRule {
    noun: "positions",
    max: MAX_POSITIONS,
};
/// Rules for a list of names.
struct NameList {
    noun: &'static str,
    max: usize,
    unique: bool,
    example: &'static str,
}

const SIDES: NameList = NameList {
    noun: "side",
    max: MAX_SIDES,
    unique: true,
    example: "name the sides, e.g. sides = [\"left\", \"right\"]",
};
const POSITION_NAMES: NameList = NameList {
    noun: "position",
    max: MAX_POSITIONS as usize,
    unique: false,
    example: "write positions = 4, or name them: positions = [\"neck\", \"upper back\"]",
};
pub(super) const COURSE: CountRule = CountRule {
    noun: "sessions",
    max: MAX_COURSE,
};

/// What a step or part takes from `[defaults]` or from its group step
/// when it does not say otherwise.
#[derive(Debug, Clone, PartialEq)]
struct Inherited {
    tempo: Ms,
    count: CountMode,
    rest: Ms,
    hold: Option<Span<Ms>>,
    transitions: Transitions,
    hold_say: Option<String>,
    release_say: Option<String>,
}

impl Inherited {
    /// What a step gets when neither it nor `[defaults]` says otherwise.
    fn for_kind(kind: Kind) -> Self {
        Inherited {
            tempo: 2_000,
            count: CountMode::Every,
            rest: 0,
            hold: None,
            transitions: Transitions::for_kind(kind),
            hold_say: None,
            release_say: None,
        }
    }
}

/// Which table a key is in, for "unknown key" hints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    Top,
    Defaults,
    Step,
    Part,
}

/// The known keys of one table, with their places.
struct Fields<'t, 'i> {
    entries: Vec<(&'t Spanned<DeString<'i>>, &'t Value<'i>)>,
    /// Keys that unknown keys were taken to be misspellings of.
    meant: Vec<&'static str>,
}

impl<'t, 'i> Fields<'t, 'i> {
    /// Whether `key` is missing only because it was misspelled; then the
    /// misspelling is the one problem worth reporting.
    fn misspelled(&self, key: &str) -> bool {
        self.meant.contains(&key)
    }

    fn get(&self, key: &str) -> Option<&'t Value<'i>> {
        self.entries
            .iter()
            .find(|(k, _)| k.get_ref() == key)
            .map(|(_, v)| *v)
    }

    /// Where the key is written: the key itself, or the header of a table
    /// defined by one (`[[step.part]]`).
    fn key_at(&self, key: &str) -> Option<usize> {
        self.entries
            .iter()
            .find(|(k, _)| k.get_ref() == key)
            .map(|(k, v)| entry_start(k, v))
    }
}

struct Checker<'a> {
    file: &'a Path,
    lines: LineIndex<'a>,
    problems: Vec<Problem>,
}

impl Checker<'_> {
    fn into_error(mut self) -> RoutineError {
        self.problems.sort_by_key(|p| (p.line, p.column));
        if self.problems.len() > MAX_PROBLEMS {
            let more = self.problems.len() - MAX_PROBLEMS;
            self.problems.truncate(MAX_PROBLEMS + 1);
            let last = &mut self.problems[MAX_PROBLEMS];
            last.key = String::new();
            last.message =
                format!("{more} more problems from here on are not shown; is this a routine file?");
            last.hint = Some("put right the problems above, then check the file again".into());
        }
        RoutineError::Invalid {
            file: self.file.to_path_buf(),
            problems: self.problems,
        }
    }

    /// Records a problem. Keys, messages and hints can hold text from the
    /// file (an unknown key, a value that is not a duration): it is made
    /// printable, so nothing in a file reaches the terminal raw.
    fn report(&mut self, at: usize, key: &str, error: ValueError) {
        let (line, column) = self.lines.locate(at);
        self.problems.push(Problem {
            file: self.file.to_path_buf(),
            line,
            column,
            key: printable(key, MAX_KEY_CHARS),
            message: printable(&error.message, MAX_MESSAGE_CHARS),
            hint: error.hint.map(|hint| printable(&hint, MAX_MESSAGE_CHARS)),
        });
    }

    fn toml_error(&mut self, text: &str, error: &toml::de::Error) {
        let mut message = error.message().to_owned();
        let span = error.span().unwrap_or(0..0);
        if message == "duplicate key"
            && let Some(key) = text
                .get(span.clone())
                .filter(|k| !k.is_empty() && k.len() < 100)
        {
            message = format!("duplicate key `{key}`");
        }
        let hint = if message.contains("must be quoted") {
            Some("put text in double quotes, e.g. name = \"Deep stroking\"")
        } else if message.contains("duplicate key") {
            Some("each key, and each [table], may appear only once; remove or rename one of them")
        } else if message.contains("invalid basic string") {
            Some("end the text with a double quote \" on the same line")
        } else {
            None
        };
        self.report(
            span.start,
            "",
            ValueError {
                message: format!("this is not valid TOML: {message}"),
                hint: hint.map(str::to_owned),
            },
        );
    }

    /// Reads one value with `read`, reporting a failure at the value.
    fn read<T>(
        &mut self,
        value: Option<&Value<'_>>,
        key: &str,
        read: impl FnOnce(&DeValue<'_>) -> Result<T, ValueError>,
    ) -> Option<T> {
        let value = value?;
        match read(value.get_ref()) {
            Ok(v) => Some(v),
            Err(error) => {
                self.report(value.span().start, key, error);
                None
            }
        }
    }

    /// Splits a table into its known keys, reporting every unknown one.
    fn fields<'t, 'i>(
        &mut self,
        table: &'t DeTable<'i>,
        prefix: &str,
        scope: Scope,
    ) -> Fields<'t, 'i> {
        let known = match scope {
            Scope::Top => TOP_KEYS,
            Scope::Defaults => DEFAULT_KEYS,
            Scope::Step | Scope::Part => STEP_KEYS,
        };
        let mut entries = Vec::new();
        let mut meant = Vec::new();
        for (key, value) in table.iter() {
            let name = key.get_ref().as_ref();
            let at = entry_start(key, value);
            if scope == Scope::Part && name == "part" {
                self.report(
                    at,
                    &join(prefix, name),
                    ValueError::new("parts nested in parts: a part cannot have parts of its own")
                        .hint(
                            "make it another [[step.part]] of the same step, or a step of its own",
                        ),
                );
            } else if known.contains(&name) {
                entries.push((key, value));
            } else {
                let error = ValueError::new(format!("unknown key `{name}`"));
                let error = match unknown_key_hint(name, scope) {
                    Some(hint) => error.hint(hint),
                    None => match closest_key(name, scope) {
                        Some(key) => {
                            meant.push(key);
                            error.hint(format!("did you mean `{key}`?"))
                        }
                        None => error,
                    },
                };
                self.report(at, &join(prefix, name), error);
            }
        }
        Fields { entries, meant }
    }

    fn routine(&mut self, document: &DeTable<'_>) -> Option<Routine> {
        let fields = self.fields(document, "", Scope::Top);
        let name = match fields.get("name") {
            Some(v) => self.read(Some(v), "name", |v| text(v, false)),
            None if fields.misspelled("name") => None,
            None => {
                self.report(
                    0,
                    "name",
                    ValueError::new("the routine has no `name`")
                        .hint("add `name = \"Lower-back massage\"` at the top of the file"),
                );
                None
            }
        };
        let description = self.read(fields.get("description"), "description", |v| text(v, true));
        let kind = self.read(fields.get("kind"), "kind", kind);
        let length = self.read(fields.get("length"), "length", |v| {
            duration_span(v, &LENGTH)
        });
        let course = self.read(fields.get("course"), "course", |v| count_span(v, &COURSE));
        let cautions = match fields.get("cautions") {
            Some(v) => self.cautions(v),
            None => Some(Vec::new()),
        };
        let prepare = self.read(fields.get("prepare"), "prepare", |v| text(v, true));
        let base = Inherited::for_kind(kind.unwrap_or_default());
        let defaults = match fields.get("defaults") {
            Some(v) => self.defaults(v, base),
            None => base,
        };
        let steps = self.steps(fields.get("step"), fields.misspelled("step"), &defaults);
        Some(Routine {
            name: name?,
            description,
            kind: kind.unwrap_or_default(),
            length,
            course,
            cautions: cautions?,
            prepare,
            steps: steps?,
            source: None,
        })
    }

    fn cautions(&mut self, value: &Value<'_>) -> Option<Vec<String>> {
        let DeValue::Array(items) = value.get_ref() else {
            self.report(
                value.span().start,
                "cautions",
                ValueError::new(format!(
                    "expected a list of texts, found {}",
                    value::describe(value.get_ref())
                ))
                .hint("write cautions = [\"Not on broken skin.\", \"Stop if it hurts.\"]"),
            );
            return None;
        };
        if let Some(extra) = items.get(MAX_CAUTIONS) {
            self.report(
                extra.span().start,
                &format!("cautions[{}]", MAX_CAUTIONS + 1),
                ValueError::new(format!(
                    "{} cautions are more than the limit of {MAX_CAUTIONS}",
                    items.len()
                )),
            );
            return None;
        }
        let mut cautions = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            cautions.push(self.read(Some(item), &format!("cautions[{}]", i + 1), |v| {
                text(v, true)
            }));
        }
        cautions.into_iter().collect()
    }

    fn defaults(&mut self, value: &Value<'_>, base: Inherited) -> Inherited {
        let DeValue::Table(table) = value.get_ref() else {
            self.report(
                value.span().start,
                "defaults",
                ValueError::new(format!(
                    "expected a table, found {}",
                    value::describe(value.get_ref())
                ))
                .hint(
                    "write [defaults] on a line of its own, with tempo = \"2s\" and so on below it",
                ),
            );
            return base;
        };
        let fields = self.fields(table, "defaults", Scope::Defaults);
        self.inherit(&fields, "defaults", &base)
    }

    /// The keys a table hands down (to its steps, or a step to its parts),
    /// each taken from `base` when the table does not set it.
    fn inherit(&mut self, fields: &Fields<'_, '_>, path: &str, base: &Inherited) -> Inherited {
        let key = |k: &str| join(path, k);
        let tempo = self.read(fields.get("tempo"), &key("tempo"), |v| duration(v, &TEMPO));
        let count = self.read(fields.get("count"), &key("count"), count_mode);
        let rest = self.read(fields.get("rest"), &key("rest"), |v| duration(v, &REST));
        let hold = self.read(fields.get("hold"), &key("hold"), hold);
        let mut transition = |k: &str, inherited: Ms| {
            self.read(fields.get(k), &key(k), |v| duration(v, &TRANSITION))
                .unwrap_or(inherited)
        };
        let transitions = Transitions {
            change: transition("change", base.transitions.change),
            switch: transition("switch", base.transitions.switch),
            move_time: transition("move_time", base.transitions.move_time),
        };
        let hold_say = self.read(fields.get("hold_say"), &key("hold_say"), |v| text(v, false));
        let release_say = self.read(fields.get("release_say"), &key("release_say"), |v| {
            text(v, false)
        });
        Inherited {
            tempo: tempo.unwrap_or(base.tempo),
            count: count.unwrap_or(base.count),
            rest: rest.unwrap_or(base.rest),
            hold: hold.unwrap_or(base.hold),
            transitions,
            hold_say: hold_say.or_else(|| base.hold_say.clone()),
            release_say: release_say.or_else(|| base.release_say.clone()),
        }
    }

    fn steps(
        &mut self,
        value: Option<&Value<'_>>,
        misspelled: bool,
        defaults: &Inherited,
    ) -> Option<Vec<Step>> {
        let Some(value) = value else {
            if misspelled {
                return None;
            }
            self.report(
                0,
                "step",
                ValueError::new("the routine has no steps")
                    .hint("add at least one [[step]] table with a `name` and `reps` or `time`"),
            );
            return None;
        };
        let items = self.tables(
            value,
            "step",
            "the routine has no steps",
            MAX_STEPS,
            "steps",
        )?;
        let mut steps = Vec::with_capacity(items.len());
        let mut work: u64 = 0;
        for (i, (table, at)) in items.into_iter().enumerate() {
            let path = format!("step[{}]", i + 1);
            let Some((step, step_work)) = self.step(table, at, &path, defaults, Scope::Step) else {
                continue;
            };
            work = work.saturating_add(step_work);
            if work > MAX_ROUTINE_WORK {
                self.report(
                    at,
                    &path,
                    ValueError::new(format!(
                        "the routine's work reaches {work} repetitions at this step, \
                         more than the limit of {MAX_ROUTINE_WORK} for a routine"
                    ))
                    .hint("lower `reps`, `rounds`, `sides` or `positions`, or split the routine"),
                );
                return None;
            }
            steps.push(step);
        }
        Some(steps)
    }

    /// An array of tables (`[[step]]`, `[[step.part]]`), with where each
    /// table begins.
    fn tables<'t, 'i>(
        &mut self,
        value: &'t Value<'i>,
        key: &str,
        empty: &str,
        limit: usize,
        noun: &str,
    ) -> Option<Vec<(&'t DeTable<'i>, usize)>> {
        let header = key.rsplit('.').next().unwrap_or(key);
        let double = if key.contains(".part") {
            "[[step.part]]"
        } else {
            "[[step]]"
        };
        let DeValue::Array(items) = value.get_ref() else {
            self.report(
                value.span().start,
                key,
                ValueError::new(format!(
                    "`{header}` must be a list of tables, found {}",
                    value::describe(value.get_ref())
                ))
                .hint(format!("write each one as {double}, with two brackets")),
            );
            return None;
        };
        if items.is_empty() {
            self.report(
                value.span().start,
                key,
                ValueError::new(empty).hint(format!("add at least one {double} table")),
            );
            return None;
        }
        if let Some(extra) = items.get(limit) {
            self.report(
                extra.span().start,
                &format!("{key}[{}]", limit + 1),
                ValueError::new(format!(
                    "{} {noun} are more than the limit of {limit}",
                    items.len()
                )),
            );
            return None;
        }
        let mut tables = Vec::with_capacity(items.len());
        let mut bad = false;
        for (i, item) in items.iter().enumerate() {
            match item.get_ref() {
                DeValue::Table(table) => tables.push((table, item.span().start)),
                other => {
                    bad = true;
                    self.report(
                        item.span().start,
                        &format!("{key}[{}]", i + 1),
                        ValueError::new(format!(
                            "expected a table, found {}",
                            value::describe(other)
                        ))
                        .hint(format!("write each one as {double}, with two brackets")),
                    );
                }
            }
        }
        (!bad).then_some(tables)
    }

    /// One step or part, with its work in repetitions (a timed stretch
    /// counts as one).
    fn step(
        &mut self,
        table: &DeTable<'_>,
        at: usize,
        path: &str,
        inherited: &Inherited,
        scope: Scope,
    ) -> Option<(Step, u64)> {
        let before = self.problems.len();
        let what = if scope == Scope::Part { "part" } else { "step" };
        let fields = self.fields(table, path, scope);
        let key = |k: &str| join(path, k);

        let name = match fields.get("name") {
            Some(v) => self.read(Some(v), &key("name"), |v| text(v, false)),
            None if fields.misspelled("name") => None,
            None => {
                self.report(
                    at,
                    &key("name"),
                    ValueError::new(format!("the {what} has no `name`")).hint(
                        "add `name = \"...\"` below the header: the technique, as it is announced",
                    ),
                );
                None
            }
        };
        let say = self.read(fields.get("say"), &key("say"), |v| text(v, false));
        let tip = self.read(fields.get("tip"), &key("tip"), |v| text(v, true));
        let move_text = self.read(fields.get("move"), &key("move"), |v| text(v, false));
        let between = self.read(fields.get("between"), &key("between"), |v| text(v, false));
        let restart = self.read(fields.get("restart"), &key("restart"), |v| text(v, false));
        let rounds = self.read(fields.get("rounds"), &key("rounds"), |v| {
            count_span(v, &ROUNDS)
        });
        let sides = match fields.get("sides") {
            Some(v) => self.names(v, &key("sides"), &SIDES),
            None => Some(Vec::new()),
        };
        let positions = match fields.get("positions") {
            Some(v) if v.get_ref().is_array() => self
                .names(v, &key("positions"), &POSITION_NAMES)
                .map(Positions::Named),
            Some(v) => self.read(Some(v), &key("positions"), position_count),
            None => Some(Positions::Count(1)),
        };

        // what this step hands down to its parts
        let own = self.inherit(&fields, path, inherited);
        let wait = self.read(fields.get("wait"), &key("wait"), boolean);
        if let (Some(true), Scope::Part, Some(wait_at)) = (wait, scope, fields.key_at("wait")) {
            self.report(
                wait_at,
                &key("wait"),
                ValueError::new("a part cannot wait; only a whole step waits for the go signal")
                    .hint("make the wait a [[step]] of its own, before or after this one"),
            );
        }
        let work = self.work(&fields, at, path, what, &own, wait == Some(true));

        if let (Some(at), Some(positions)) = (fields.key_at("move"), &positions)
            && positions.len() < 2
        {
            self.report(
                at,
                &key("move"),
                ValueError::new("`move` is spoken between positions; add `positions`")
                    .hint("e.g. `positions = 3`, or `positions = [\"neck\", \"shoulders\"]`"),
            );
        }
        if let (Some(at), Some(positions)) = (fields.key_at("restart"), &positions)
            && positions.len() < 2
        {
            self.report(
                at,
                &key("restart"),
                ValueError::new(
                    "`restart` is spoken when the work goes back to the first position; \
                     add `positions`",
                )
                .hint("e.g. `positions = 5` with `restart = \"Start again at the top.\"`"),
            );
        }
        let held = matches!(work, Some((Work::Counted { hold: Some(_), .. }, _)));
        if let (Some(at), false, Some(_)) = (fields.key_at("between"), held, &work) {
            self.report(
                at,
                &key("between"),
                ValueError::new(format!(
                    "`between` is spoken in the rest after each held repetition; this {what} has no hold"
                ))
                .hint("add `hold = \"3s\"` and `reps`, or use `move` between positions"),
            );
        }
        if let (Some((Work::Wait, _)), true) = (&work, scope == Scope::Step) {
            for k in [
                "sides",
                "positions",
                "rounds",
                "move",
                "restart",
                "between",
                "tempo",
                "hold",
                "count",
            ] {
                if let Some(k_at) = fields.key_at(k) {
                    self.report(
                        k_at,
                        &key(k),
                        ValueError::new(format!(
                            "`{k}` goes with work; a waiting step only says its name and waits"
                        ))
                        .hint("remove it, or put the work in the next step"),
                    );
                }
            }
        }
        let timed = fields.key_at("time").is_some()
            && fields.key_at("reps").is_none()
            && fields.key_at("part").is_none();
        if timed {
            for (k, verb) in [("hold", "hold"), ("tempo", "pace"), ("count", "count")] {
                if let Some(k_at) = fields.key_at(k) {
                    self.report(
                        k_at,
                        &key(k),
                        ValueError::new(format!(
                            "`{k}` goes with `reps`: a timed {what} has no repetitions to {verb}"
                        ))
                        .hint(format!(
                            "remove `{k}`, or make it a counted {what} with `reps = 10` instead of `time`"
                        )),
                    );
                }
            }
        }
        if self.problems.len() > before {
            return None;
        }

        let (work, unit) = work?;
        let sides = sides?;
        let positions = positions?;
        let rounds = rounds.unwrap_or(Span::exactly(1));
        let total = u64::from(rounds.high)
            .saturating_mul(sides.len().max(1) as u64)
            .saturating_mul(u64::from(positions.len()))
            .saturating_mul(unit);
        if total > MAX_STEP_WORK {
            self.report(
                at,
                path,
                ValueError::new(format!(
                    "the {what}'s work comes to {total} repetitions \
                     (rounds × sides × positions × reps), more than the limit of {MAX_STEP_WORK}"
                ))
                .hint("lower `reps`, `rounds`, `sides` or `positions`, or split it into several steps"),
            );
            return None;
        }
        let step = Step {
            name: name?,
            say,
            tip,
            work,
            sides,
            positions,
            move_text,
            between,
            restart,
            rounds,
            rest: own.rest,
            transitions: own.transitions,
            hold_say: own.hold_say,
            release_say: own.release_say,
            line: self.lines.locate(at).0,
        };
        Some((step, total))
    }

    /// The step's work: exactly one of `time`, `reps` or parts; with the
    /// work of one pass in repetitions.
    fn work(
        &mut self,
        fields: &Fields<'_, '_>,
        at: usize,
        path: &str,
        what: &str,
        own: &Inherited,
        wait: bool,
    ) -> Option<(Work, u64)> {
        let key = |k: &str| join(path, k);
        // each value is checked even when the keys clash, so one run shows all
        let time = self.read(fields.get("time"), &key("time"), |v| {
            duration_span(v, &TIME)
        });
        let reps = self.read(fields.get("reps"), &key("reps"), |v| count_span(v, &REPS));
        let mut present: Vec<(&str, usize)> = ["time", "reps", "part"]
            .into_iter()
            .filter_map(|k| fields.key_at(k).map(|at| (k, at)))
            .chain(
                fields
                    .key_at("wait")
                    .filter(|_| wait)
                    .map(|at| ("wait", at)),
            )
            .collect();
        present.sort_by_key(|&(_, at)| at);
        let shown = |k: &str| {
            if k == "part" {
                "[[step.part]]".to_owned()
            } else if k == "wait" {
                "`wait = true`".to_owned()
            } else {
                format!("`{k}`")
            }
        };
        match present.as_slice() {
            [] if ["time", "reps", "part"]
                .iter()
                .any(|k| fields.misspelled(k)) =>
            {
                None
            }
            [] => {
                let (message, hint) = if what == "part" {
                    (
                        "the part has no `time` or `reps`",
                        "add `reps = 10` for a counted part or `time = \"1m\"` for a timed one",
                    )
                } else {
                    (
                        "the step has no `time`, `reps` or [[step.part]]",
                        "add `reps = 10` for a counted step, `time = \"1m\"` for a timed one, \
                         [[step.part]] tables for a step in parts, or `wait = true` for a step \
                         that waits for the go signal",
                    )
                };
                self.report(at, path, ValueError::new(message).hint(hint));
                None
            }
            [(first, _), (second, second_at), ..] => {
                self.report(
                    *second_at,
                    &key(second),
                    ValueError::new(format!(
                        "a {what} has only one of `time`, `reps`, [[step.part]] or `wait = true`; \
                         this one has {} and {}",
                        shown(first),
                        shown(second)
                    ))
                    .hint(
                        "keep `reps` for a counted step or `time` for a timed one; \
                           a step in parts gives each part its own",
                    ),
                );
                None
            }
            [("time", _)] => Some((Work::Timed { time: time? }, 1)),
            [("wait", _)] => Some((Work::Wait, 0)),
            [("reps", _)] => {
                let reps = reps?;
                let work = Work::Counted {
                    reps,
                    tempo: own.tempo,
                    hold: own.hold,
                    count: own.count,
                };
                Some((work, u64::from(reps.high)))
            }
            [(_, _)] => {
                let value = fields.get("part")?;
                let part_key = key("part");
                let items = self.tables(
                    value,
                    &part_key,
                    "the step has an empty list of parts",
                    MAX_PARTS,
                    "parts",
                )?;
                let wanted = items.len();
                let mut parts = Vec::with_capacity(wanted);
                let mut work: u64 = 0;
                for (i, (table, part_at)) in items.into_iter().enumerate() {
                    let part_path = format!("{part_key}[{}]", i + 1);
                    if let Some((part, part_work)) =
                        self.step(table, part_at, &part_path, own, Scope::Part)
                    {
                        parts.push(part);
                        work = work.saturating_add(part_work);
                    }
                }
                (parts.len() == wanted).then_some((Work::Group { parts }, work))
            }
        }
    }

    /// A list of names: sides (each different) or positions.
    fn names(&mut self, value: &Value<'_>, key: &str, list: &NameList) -> Option<Vec<String>> {
        let DeValue::Array(items) = value.get_ref() else {
            self.report(
                value.span().start,
                key,
                ValueError::new(format!(
                    "expected a list of {} names, found {}",
                    list.noun,
                    value::describe(value.get_ref())
                ))
                .hint(list.example),
            );
            return None;
        };
        if items.is_empty() {
            self.report(
                value.span().start,
                key,
                ValueError::new(format!("the list of {}s is empty", list.noun)).hint(list.example),
            );
            return None;
        }
        if let Some(extra) = items.get(list.max) {
            self.report(
                extra.span().start,
                &format!("{key}[{}]", list.max + 1),
                ValueError::new(format!(
                    "{} {}s are more than the limit of {}",
                    items.len(),
                    list.noun,
                    list.max
                )),
            );
            return None;
        }
        let mut names: Vec<String> = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            let item_key = format!("{key}[{}]", i + 1);
            match self.read(Some(item), &item_key, |v| text(v, false)) {
                Some(name)
                    if list.unique
                        && names
                            .iter()
                            .any(|n| n.to_lowercase() == name.to_lowercase()) =>
                {
                    ok = false;
                    self.report(
                        item.span().start,
                        &item_key,
                        ValueError::new(format!("the {} \"{name}\" is named twice", list.noun))
                            .hint(format!("give each {} its own name", list.noun)),
                    );
                }
                Some(name) => names.push(name),
                None => ok = false,
            }
        }
        ok.then_some(names)
    }
}

/// Where an entry begins: its key, or the header that names a table.
fn entry_start(key: &Spanned<DeString<'_>>, value: &Value<'_>) -> usize {
    key.span().start.min(value.span().start)
}

/// `prefix.key`, or `key` at the top level.
fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}

/// Why a key may be unknown here when it is a real key of another table.
fn unknown_key_hint(name: &str, scope: Scope) -> Option<String> {
    let in_step = STEP_KEYS.contains(&name);
    let at_top = TOP_KEYS.contains(&name);
    match scope {
        Scope::Top if DEFAULT_KEYS.contains(&name) => Some(format!(
            "`{name}` for every step goes under [defaults]; for one step, put it in that [[step]]"
        )),
        Scope::Top if in_step => Some(format!(
            "`{name}` belongs to a step: put it below a [[step]] header"
        )),
        Scope::Defaults if in_step => Some(format!(
            "[defaults] holds only {}; set `{name}` in each [[step]]",
            DEFAULT_KEYS.join(", ")
        )),
        Scope::Step | Scope::Part if at_top => Some(format!(
            "`{name}` is a top-level key: move it above the first [defaults] or [[step]] header \
             (keys below a header belong to that table)"
        )),
        _ => None,
    }
}

/// The key of this table an unknown key was probably meant to be.
fn closest_key(name: &str, scope: Scope) -> Option<&'static str> {
    let (known, synonyms): (&[&'static str], &[(&str, &'static str)]) = match scope {
        Scope::Top => (TOP_KEYS, &[("title", "name"), ("steps", "step")]),
        Scope::Defaults => (DEFAULT_KEYS, &[]),
        Scope::Step | Scope::Part => (STEP_KEYS, STEP_SYNONYMS),
    };
    closest(name, known, synonyms)
}

fn kind(value: &DeValue<'_>) -> Result<Kind, ValueError> {
    match value {
        DeValue::String(s) if s.as_ref() == "partner" => Ok(Kind::Partner),
        DeValue::String(s) if s.as_ref() == "self" => Ok(Kind::SelfMassage),
        other => Err(one_of(other, &["partner", "self"], "a kind of routine")),
    }
}

fn count_mode(value: &DeValue<'_>) -> Result<CountMode, ValueError> {
    match value {
        DeValue::String(s) if s.as_ref() == "every" => Ok(CountMode::Every),
        DeValue::String(s) if s.as_ref() == "milestones" => Ok(CountMode::Milestones),
        DeValue::String(s) if s.as_ref() == "none" => Ok(CountMode::None),
        other => Err(one_of(
            other,
            &["every", "milestones", "none"],
            "a way of counting",
        )),
    }
}

/// A word that is not one of `choices`.
fn one_of(value: &DeValue<'_>, choices: &[&str], what: &str) -> ValueError {
    let listed = choices
        .iter()
        .map(|c| format!("\"{c}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let error = ValueError::new(format!(
        "{} is not {what}; write one of {listed}",
        value::describe(value)
    ));
    match value {
        DeValue::String(s) => match closest(s, choices, &[]) {
            Some(c) => error.hint(format!("did you mean \"{c}\"?")),
            None => error,
        },
        _ => error,
    }
}

/// A hold, or `"0s"` for an explicit "no hold" that overrides an
/// inherited one.
fn hold(value: &DeValue<'_>) -> Result<Option<Span<Ms>>, ValueError> {
    let span = duration_span(value, &HOLD)?;
    if span.high == 0 {
        return Ok(None);
    }
    if span.low < MIN_HOLD {
        return Err(ValueError::new(format!(
            "{} is shorter than the minimum of {} for a hold",
            format_ms(span.low),
            format_ms(MIN_HOLD)
        ))
        .hint("write \"0s\" for no hold at all"));
    }
    Ok(Some(span))
}

/// `true` or `false`.
fn boolean(value: &DeValue<'_>) -> Result<bool, ValueError> {
    match value {
        DeValue::Boolean(b) => Ok(*b),
        other => Err(
            ValueError::new(format!("{} is not true or false", value::describe(other)))
                .hint("write `wait = true`, without quotes"),
        ),
    }
}

/// A number of positions (`positions = 4`).
fn position_count(value: &DeValue<'_>) -> Result<Positions, ValueError> {
    let span = count_span(value, &POSITIONS)?;
    if span.is_range() {
        return Err(
            ValueError::new("`positions` is one number, not a range").hint(POSITION_NAMES.example)
        );
    }
    Ok(Positions::Count(span.low))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Routine {
        match parse_routine(text, Path::new("test.toml")) {
            Ok(routine) => routine,
            Err(err) => panic!("expected a valid routine:\n{err}"),
        }
    }

    fn counted(step: &Step) -> (Span<u32>, Ms, Option<Span<Ms>>, CountMode) {
        match &step.work {
            Work::Counted {
                reps,
                tempo,
                hold,
                count,
            } => (*reps, *tempo, *hold, *count),
            other => panic!("expected a counted step, got {other:?}"),
        }
    }

    const FULL: &str = r#"
name = "Lower back"
description = "For tired backs."
kind = "self"
length = "10m-40m"
course = "10-15"
cautions = ["Not on broken skin.", "Stop if it hurts."]
prepare = "Lie face down."

[[step]]
name = "Press Mingmen"
say = "Press the Mingmen point"
tip = "Use the thumbs."
reps = 10

[[step]]
name = "Push the waist"
time = "1m-2m"
sides = ["left", "right"]
positions = ["waist", "buttocks", "legs"]
rounds = "1-3"
rest = "5s"
"#;

    #[test]
    fn every_top_level_key_is_read() {
        let routine = parse(FULL);
        assert_eq!(routine.name, "Lower back");
        assert_eq!(routine.description.as_deref(), Some("For tired backs."));
        assert_eq!(routine.kind, Kind::SelfMassage);
        assert_eq!(
            routine.length,
            Some(Span {
                low: 600_000,
                high: 2_400_000
            })
        );
        assert_eq!(routine.course, Some(Span { low: 10, high: 15 }));
        assert_eq!(
            routine.cautions,
            ["Not on broken skin.", "Stop if it hurts."]
        );
        assert_eq!(routine.prepare.as_deref(), Some("Lie face down."));
        assert_eq!(routine.source.as_deref(), Some(Path::new("test.toml")));
        assert_eq!(routine.steps.len(), 2);
    }

    #[test]
    fn steps_know_their_header_line_and_keys() {
        let routine = parse(FULL);
        let first = &routine.steps[0];
        assert_eq!(first.line, 10);
        assert_eq!(first.say.as_deref(), Some("Press the Mingmen point"));
        assert_eq!(first.tip.as_deref(), Some("Use the thumbs."));
        assert_eq!(
            counted(first),
            (Span::exactly(10), 2_000, None, CountMode::Every)
        );
        assert_eq!(first.rounds, Span::exactly(1));
        assert_eq!(first.positions, Positions::Count(1));
        assert!(first.sides.is_empty());
        assert_eq!(first.rest, 0);

        let second = &routine.steps[1];
        assert_eq!(second.line, 16);
        assert_eq!(
            second.work,
            Work::Timed {
                time: Span {
                    low: 60_000,
                    high: 120_000
                }
            }
        );
        assert_eq!(second.sides, ["left", "right"]);
        assert_eq!(
            second.positions,
            Positions::Named(vec!["waist".into(), "buttocks".into(), "legs".into()])
        );
        assert_eq!(second.rounds, Span { low: 1, high: 3 });
        assert_eq!(second.rest, 5_000);
    }

    #[test]
    fn the_smallest_routine_takes_every_default() {
        let routine = parse("name = \"Tiny\"\n[[step]]\nname = \"Knead\"\nreps = 5\n");
        assert_eq!(routine.kind, Kind::Partner);
        assert_eq!(routine.length, None);
        assert_eq!(routine.course, None);
        assert!(routine.cautions.is_empty());
        assert_eq!(
            counted(&routine.steps[0]),
            (Span::exactly(5), 2_000, None, CountMode::Every)
        );
    }

    #[test]
    fn defaults_flow_into_steps_and_group_steps_into_parts() {
        let routine = parse(
            r#"
name = "Inherit"
[defaults]
tempo = "3s"
count = "milestones"
rest = "2s"
hold = "5s"

[[step]]
name = "Inherits all"
reps = 4

[[step]]
name = "Overrides"
reps = 4
tempo = "1s"
count = "none"
rest = "0s"
hold = "2s-4s"

[[step]]
name = "Group"
tempo = "1500ms"
hold = "0s"
  [[step.part]]
  name = "From the group"
  reps = 3
  [[step.part]]
  name = "Own hold"
  reps = 3
  hold = "7s"
  count = "every"
  [[step.part]]
  name = "Timed part"
  time = "30s"
"#,
        );
        let steps = &routine.steps;
        assert_eq!(
            counted(&steps[0]),
            (
                Span::exactly(4),
                3_000,
                Some(Span::exactly(5_000)),
                CountMode::Milestones
            )
        );
        assert_eq!(steps[0].rest, 2_000);
        assert_eq!(
            counted(&steps[1]),
            (
                Span::exactly(4),
                1_000,
                Some(Span {
                    low: 2_000,
                    high: 4_000
                }),
                CountMode::None
            )
        );
        assert_eq!(steps[1].rest, 0);

        let Work::Group { parts } = &steps[2].work else {
            panic!("expected a group: {:?}", steps[2].work);
        };
        assert_eq!(steps[2].rest, 2_000);
        assert_eq!(
            counted(&parts[0]),
            (Span::exactly(3), 1_500, None, CountMode::Milestones)
        );
        assert_eq!(parts[0].rest, 2_000);
        assert_eq!(
            counted(&parts[1]),
            (
                Span::exactly(3),
                1_500,
                Some(Span::exactly(7_000)),
                CountMode::Every
            )
        );
        assert_eq!(
            parts[2].work,
            Work::Timed {
                time: Span::exactly(30_000)
            }
        );
        assert_eq!(
            parts.iter().map(|p| p.line).collect::<Vec<_>>(),
            [25, 28, 33]
        );
    }

    #[test]
    fn an_inherited_hold_or_tempo_does_not_trouble_a_timed_step() {
        let routine = parse(
            "name = \"T\"\n[defaults]\nhold = \"5s\"\ntempo = \"3s\"\ncount = \"none\"\n\
             [[step]]\nname = \"Stroke\"\ntime = \"90s\"\n",
        );
        assert_eq!(
            routine.steps[0].work,
            Work::Timed {
                time: Span::exactly(90_000)
            }
        );
    }

    #[test]
    fn positions_are_a_count_or_names_and_move_is_spoken_between_them() {
        let routine = parse(
            r#"
name = "P"
[[step]]
name = "Counted positions"
reps = "15-20"
positions = 4
move = "Move down one palm width."
[[step]]
name = "As text"
reps = "8"
positions = "2"
move = "Next."
"#,
        );
        assert_eq!(routine.steps[0].positions, Positions::Count(4));
        assert_eq!(
            routine.steps[0].move_text.as_deref(),
            Some("Move down one palm width.")
        );
        assert_eq!(counted(&routine.steps[0]).0, Span { low: 15, high: 20 });
        assert_eq!(routine.steps[1].positions, Positions::Count(2));
        assert_eq!(counted(&routine.steps[1]).0, Span::exactly(8));
    }

    #[test]
    fn inline_tables_work_like_headers() {
        let routine = parse(
            "name = \"Inline\"\nstep = [\n  { name = \"A\", reps = 2 },\n  { name = \"B\", time = \"1m\" },\n]\n",
        );
        assert_eq!(routine.steps.len(), 2);
        assert_eq!(routine.steps[1].line, 4);
    }

    #[test]
    fn limits_are_inclusive() {
        let routine = parse(
            r#"
name = "Edges"
length = "1m-8h"
[[step]]
name = "Most"
reps = 1000
tempo = "200ms"
rounds = 20
hold = "0s"
[[step]]
name = "Longest"
time = "2h"
rest = "10m"
"#,
        );
        assert_eq!(counted(&routine.steps[0]).0, Span::exactly(1000));
        assert_eq!(routine.steps[1].rest, 600_000);
    }

    #[test]
    fn every_problem_in_a_file_is_reported_in_file_order() {
        let err = parse_routine(
            "name = \"Many\"\n[[step]]\nname = \"A\"\nreps = 0\n[[step]]\nname = \"B\"\ntime = 90\n",
            Path::new("many.toml"),
        )
        .unwrap_err();
        let places: Vec<_> = err
            .problems()
            .iter()
            .map(|p| (p.line, p.column, p.key.as_str()))
            .collect();
        assert_eq!(places, [(4, 8, "step[1].reps"), (7, 8, "step[2].time")]);
        assert_eq!(err.file(), Path::new("many.toml"));
    }

    #[test]
    fn transitions_and_hold_words_have_defaults_by_kind_and_are_inherited() {
        let r = parse(
            r#"
name = "Teacher"
[defaults]
switch = "10s"
hold_say = "Stretch."
[[step]]
name = "Stretch"
reps = 3
hold = "1m"
rest = "5s"
release_say = "And relax."
between = "Move down a little."
[[step]]
name = "Group"
change = "6s"
  [[step.part]]
  name = "Part"
  time = "30s"
  positions = 3
  restart = "Back to the top."
[[step]]
name = "Turn over"
wait = true
"#,
        );
        let partner = Transitions::for_kind(Kind::Partner);
        let first = &r.steps[0];
        assert_eq!(first.transitions.switch, 10_000);
        assert_eq!(first.transitions.change, partner.change);
        assert_eq!(first.hold_say.as_deref(), Some("Stretch."));
        assert_eq!(first.release_say.as_deref(), Some("And relax."));
        assert_eq!(first.between.as_deref(), Some("Move down a little."));
        let Work::Group { parts } = &r.steps[1].work else {
            panic!("a group");
        };
        assert_eq!(
            parts[0].transitions.change, 6_000,
            "a part takes its step's"
        );
        assert_eq!(parts[0].transitions.switch, 10_000);
        assert_eq!(parts[0].restart.as_deref(), Some("Back to the top."));
        assert_eq!(r.steps[2].work, Work::Wait);
        let own = parse(
            "name = \"Mine\"\nkind = \"self\"\n[[step]]\nname = \"A\"\nreps = 3\nsides = [\"left\", \"right\"]\n",
        );
        assert_eq!(
            own.steps[0].transitions,
            Transitions::for_kind(Kind::SelfMassage)
        );
        assert!(Transitions::for_kind(Kind::Partner).switch > own.steps[0].transitions.switch);
    }

    #[test]
    fn new_keys_are_refused_where_they_mean_nothing() {
        let problems = |text: &str| -> Vec<(String, String)> {
            parse_routine(text, Path::new("bad.toml"))
                .unwrap_err()
                .problems()
                .iter()
                .map(|p| (p.key.clone(), p.message.clone()))
                .collect()
        };
        let found =
            problems("name = \"Bad\"\n[[step]]\nname = \"A\"\nreps = 3\nbetween = \"Move.\"\n");
        assert_eq!(found[0].0, "step[1].between");
        assert!(found[0].1.contains("no hold"), "{found:?}");
        let found =
            problems("name = \"Bad\"\n[[step]]\nname = \"A\"\ntime = \"1m\"\nrestart = \"Top.\"\n");
        assert_eq!(found[0].0, "step[1].restart");
        let found = problems(
            "name = \"Bad\"\n[[step]]\nname = \"A\"\nwait = true\nsides = [\"left\", \"right\"]\n",
        );
        assert_eq!(found[0].0, "step[1].sides");
        assert!(found[0].1.contains("waiting step"), "{found:?}");
        let found =
            problems("name = \"Bad\"\n[[step]]\nname = \"A\"\nwait = true\ntime = \"1m\"\n");
        assert!(
            found.iter().any(|(_, m)| m.contains("only one of")),
            "{found:?}"
        );
        let found = problems(
            "name = \"Bad\"\n[[step]]\nname = \"A\"\n[[step.part]]\nname = \"B\"\nwait = true\n",
        );
        assert!(
            found
                .iter()
                .any(|(k, m)| k == "step[1].part[1].wait" && m.contains("cannot wait")),
            "{found:?}"
        );
        let found = problems("name = \"Bad\"\n[[step]]\nname = \"A\"\nwait = \"yes\"\n");
        assert!(
            found
                .iter()
                .any(|(k, m)| k == "step[1].wait" && m.contains("not true or false")),
            "{found:?}"
        );
        let found = problems(
            "name = \"Bad\"\n[defaults]\nswitch = \"11m\"\n[[step]]\nname = \"A\"\nreps = 1\n",
        );
        assert_eq!(found[0].0, "defaults.switch");
    }
}
