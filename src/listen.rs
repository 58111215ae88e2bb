//! Spoken commands: what is listened for, how a phrase heard becomes a
//! command, and the rules around it (the daemon's own cues are not heard,
//! "stop" ends a session only when said twice).
//!
//! A command is the wake word and a command word: "massage pause",
//! "massage next". Recognition runs in two stages on the microphone's
//! audio (see [`recogniser`]): keyword spotting says that a command phrase
//! was said at all, and a grammar of the command phrases, decoded over the
//! same stretch of speech, says which one. Spotting alone mixes up phrases
//! that sound alike ("next" and "back"); a grammar alone always answers
//! with some command, whatever was said. Nothing is recorded: the audio
//! goes from the sound server's recording stream to the recogniser in
//! memory, and nowhere else.
//!
//! "Stop" without the wake word (the client saying "stop, that hurts")
//! pauses the session; it never ends it. "massage stop" pauses too and asks
//! for a second "stop" within [`STOP_CONFIRM`] (after the question is said)
//! to end the session.

#[cfg(feature = "listen")]
pub mod recogniser;

pub mod capture;

use std::time::{Duration, Instant};

/// The wake word unless `[listen] wake_word` says otherwise.
pub const DEFAULT_WAKE_WORD: &str = "massage";

/// How long after "massage stop" a second "stop" ends the session.
pub const STOP_CONFIRM: Duration = Duration::from_secs(5);

/// How long after each of its own cues the daemon still ignores what the
/// microphone hears: the cue's echo in the room, and the time the sound
/// server takes to play it (the cue is published as it is handed over).
pub const GATE_TAIL: Duration = Duration::from_millis(700);

/// The sample rate the recogniser's model was trained at.
pub const RATE: u32 = 16_000;

/// A spoken command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command {
    Pause,
    /// "continue" or "resume".
    Resume,
    Next,
    /// "back": the start of this stretch, or the one before.
    Back,
    /// "again" or "repeat": this stretch again.
    Again,
    /// "more time": a minute more of the work under way.
    More,
    /// "less time": a minute less.
    Less,
    /// "how long": the time left is said.
    HowLong,
    /// "stop": the session pauses and waits for a second "stop".
    Stop,
}

impl Command {
    /// Every command, with the words said after the wake word for it.
    pub const PHRASES: [(Command, &'static str); 11] = [
        (Command::Pause, "pause"),
        (Command::Resume, "continue"),
        (Command::Resume, "resume"),
        (Command::Next, "next"),
        (Command::Back, "back"),
        (Command::Again, "again"),
        (Command::Again, "repeat"),
        (Command::More, "more time"),
        (Command::Less, "less time"),
        (Command::HowLong, "how long"),
        (Command::Stop, "stop"),
    ];

    /// The command a recognised phrase ("massage more time") names, with
    /// `wake` as the wake word.
    pub fn parse(phrase: &str, wake: &str) -> Option<Command> {
        let words: Vec<&str> = phrase.split_whitespace().collect();
        let (first, rest) = words.split_first()?;
        if !first.eq_ignore_ascii_case(wake) {
            return None;
        }
        let rest = rest.join(" ").to_ascii_lowercase();
        Command::PHRASES
            .iter()
            .find(|(_, said)| *said == rest)
            .map(|(command, _)| *command)
    }

    /// The words of the command after the wake word, as the docs give them.
    pub fn words(self) -> &'static str {
        Command::PHRASES
            .iter()
            .find(|(command, _)| *command == self)
            .map_or("", |(_, said)| said)
    }
}

/// What the recogniser heard in one stretch of speech.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heard {
    /// The wake word and a command.
    Command(Command),
    /// "stop" without the wake word.
    BareStop,
}

/// The phrases in what the keyword spotter reports: it names every phrase
/// it found since it last reported, one after the other ("massage repeat
/// massage stop"). Each command phrase starts with the wake word; "stop"
/// without it is a bare stop; anything else is passed over.
pub fn spotted_phrases(hyp: &str, wake: &str) -> Vec<Heard> {
    let words: Vec<String> = hyp
        .split_whitespace()
        .map(str::to_ascii_lowercase)
        .collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < words.len() {
        if words[i].eq_ignore_ascii_case(wake) {
            // the longest command phrase that follows
            let longest = Command::PHRASES
                .iter()
                .filter(|(_, said)| {
                    let said: Vec<&str> = said.split_whitespace().collect();
                    words.len() > i + said.len()
                        && words[i + 1..=i + said.len()].iter().eq(said.iter())
                })
                .max_by_key(|(_, said)| said.len());
            if let Some((command, said)) = longest {
                found.push(Heard::Command(*command));
                i += 1 + said.split_whitespace().count();
                continue;
            }
        } else if words[i] == "stop" {
            found.push(Heard::BareStop);
        }
        i += 1;
    }
    found
}

/// Every word the recogniser needs from the dictionary: the wake word's,
/// the commands' and the bare "stop".
pub fn words(wake: &str) -> Vec<String> {
    let mut words: Vec<String> = std::iter::once(wake.to_ascii_lowercase())
        .chain(
            Command::PHRASES
                .iter()
                .flat_map(|(_, said)| said.split_whitespace().map(str::to_owned)),
        )
        .collect();
    words.sort();
    words.dedup();
    words
}

/// Whether `word` may be a wake word: one word of letters.
pub fn valid_wake_word(word: &str) -> bool {
    !word.is_empty() && word.chars().all(|c| c.is_ascii_alphabetic())
}

/// The keyword-spotting list: each command phrase after the wake word at
/// `threshold`, and "stop" alone at the much stricter `stop_threshold`
/// (single words are spotted in ordinary talk far more often).
pub fn keyphrases(wake: &str, threshold: f64, stop_threshold: f64) -> String {
    let wake = wake.to_ascii_lowercase();
    let mut list = String::new();
    for (_, said) in Command::PHRASES {
        list.push_str(&format!("{wake} {said} /{threshold:e}/\n"));
    }
    list.push_str(&format!("stop /{stop_threshold:e}/\n"));
    list
}

/// The grammar that says which command was said.
pub fn grammar(wake: &str) -> String {
    let wake = wake.to_ascii_lowercase();
    let mut said: Vec<&str> = Command::PHRASES.iter().map(|(_, said)| *said).collect();
    said.dedup();
    format!(
        "#JSGF V1.0;\ngrammar commands;\npublic <command> = {wake} ( {} );\n",
        said.join(" | ")
    )
}

/// When the daemon's own cues sound: what the microphone hears then is
/// not listened to.
#[derive(Debug, Default)]
pub struct Gate {
    /// Times the microphone is deaf, as (from, until), oldest first.
    windows: Vec<(Instant, Instant)>,
}

impl Gate {
    /// A cue of `duration` handed to the output at `at`: deaf from then
    /// until it has sounded, plus [`GATE_TAIL`].
    pub fn cue(&mut self, at: Instant, duration: Duration) {
        let until = at + duration + GATE_TAIL;
        // windows end in the order they are added, nearly: keep few
        self.windows.retain(|(_, end)| *end + GATE_TAIL > at);
        self.windows.push((at, until));
    }

    /// Whether audio captured between `from` and `until` overlaps a cue.
    pub fn closed(&self, from: Instant, until: Instant) -> bool {
        self.windows.iter().any(|(a, b)| from < *b && *a < until)
    }
}

/// What a command heard comes to, given the stop said before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Do the command.
    Do(Command),
    /// Pause and wait for a second "stop".
    StopAsked,
    /// The second "stop": end the session.
    StopConfirmed,
}

/// The rule for "stop": one "massage stop" pauses and waits for a second
/// "stop" (with or without the wake word) within [`STOP_CONFIRM`] of the
/// question having been said; a bare "stop" alone only ever pauses.
#[derive(Debug, Default)]
pub struct StopGuard {
    asked: Option<Instant>,
}

impl StopGuard {
    /// The daemon speaks until `quiet` (its cue and the gate's tail): while
    /// a stop is asked, the time for the second "stop" counts from then,
    /// since nothing said before it can be heard.
    pub fn speaking_until(&mut self, quiet: Instant) {
        if let Some(asked) = &mut self.asked {
            *asked = (*asked).max(quiet);
        }
    }

    pub fn action(&mut self, heard: Heard, now: Instant) -> Action {
        let pending = self
            .asked
            .take()
            .is_some_and(|at| now.saturating_duration_since(at) <= STOP_CONFIRM);
        match heard {
            Heard::Command(Command::Stop) | Heard::BareStop if pending => Action::StopConfirmed,
            Heard::Command(Command::Stop) => {
                self.asked = Some(now);
                Action::StopAsked
            }
            Heard::BareStop => Action::Do(Command::Pause),
            Heard::Command(command) => Action::Do(command),
        }
    }
}

/// The time left, as said aloud: "12 minutes left", "40 seconds left".
pub fn time_left(remaining_ms: u64) -> String {
    let secs = remaining_ms.div_ceil(1000);
    match secs {
        0..=59 => format!("{secs} seconds left"),
        60..=89 => "1 minute left".to_owned(),
        _ => format!("{} minutes left", (secs + 30) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phrases_name_their_commands_with_the_wake_word_only() {
        assert_eq!(
            Command::parse("massage more time", "massage"),
            Some(Command::More)
        );
        assert_eq!(
            Command::parse("MASSAGE continue", "massage"),
            Some(Command::Resume)
        );
        assert_eq!(Command::parse("massage next", "helper"), None);
        assert_eq!(Command::parse("massage", "massage"), None);
        assert_eq!(Command::parse("massage stop now", "massage"), None);
        assert_eq!(Command::parse("", "massage"), None);
        for (command, said) in Command::PHRASES {
            assert_eq!(Command::parse(&format!("cue {said}"), "cue"), Some(command));
        }
    }

    #[test]
    fn every_phrase_the_spotter_names_is_found() {
        use Heard::{BareStop, Command as C};
        assert_eq!(
            spotted_phrases("massage repeat  massage stop  massage back", "massage"),
            [C(Command::Again), C(Command::Stop), C(Command::Back)]
        );
        assert_eq!(
            spotted_phrases("massage pause", "massage"),
            [C(Command::Pause)]
        );
        assert_eq!(
            spotted_phrases("stop  massage more time", "massage"),
            [BareStop, C(Command::More)]
        );
        assert_eq!(
            spotted_phrases("Massage HOW long", "massage"),
            [C(Command::HowLong)]
        );
        // a wake word with nothing after it, a word never listened for
        assert_eq!(spotted_phrases("massage", "massage"), []);
        assert_eq!(spotted_phrases("massage time stop", "massage"), [BareStop]);
        assert_eq!(spotted_phrases("", "massage"), []);
    }

    #[test]
    fn the_lists_hold_every_phrase() {
        let list = keyphrases("Massage", 1e-30, 1e-10);
        assert!(list.contains("massage how long /1e-30/\n"), "{list}");
        assert!(list.ends_with("\nstop /1e-10/\n"), "{list}");
        assert_eq!(list.lines().count(), Command::PHRASES.len() + 1);
        let grammar = grammar("massage");
        assert!(
            grammar.contains("= massage ( pause | continue | resume | next"),
            "{grammar}"
        );
        assert_eq!(
            words("massage"),
            [
                "again", "back", "continue", "how", "less", "long", "massage", "more", "next",
                "pause", "repeat", "resume", "stop", "time"
            ]
        );
        assert!(valid_wake_word("computer"));
        assert!(!valid_wake_word("hey you"));
        assert!(!valid_wake_word(""));
    }

    #[test]
    fn the_gate_is_closed_while_a_cue_sounds_and_its_tail() {
        let t0 = Instant::now();
        let mut gate = Gate::default();
        gate.cue(t0, Duration::from_secs(1));
        let ms = Duration::from_millis;
        assert!(gate.closed(t0 + ms(200), t0 + ms(300)));
        assert!(gate.closed(t0 + ms(1600), t0 + ms(1650)), "the tail");
        assert!(!gate.closed(t0 + ms(1750), t0 + ms(1800)));
        assert!(
            gate.closed(t0 - ms(50), t0 + ms(10)),
            "overlapping its start"
        );
        assert!(!gate.closed(t0 - ms(100), t0));
    }

    #[test]
    fn stop_ends_only_when_said_twice_with_the_wake_word_first() {
        let t0 = Instant::now();
        let mut guard = StopGuard::default();
        let stop = Heard::Command(Command::Stop);
        // the client's "stop, that hurts", again and again: a pause
        assert_eq!(
            guard.action(Heard::BareStop, t0),
            Action::Do(Command::Pause)
        );
        assert_eq!(
            guard.action(Heard::BareStop, t0),
            Action::Do(Command::Pause)
        );
        assert_eq!(guard.action(stop, t0), Action::StopAsked);
        assert_eq!(
            guard.action(Heard::BareStop, t0 + Duration::from_secs(2)),
            Action::StopConfirmed
        );
        // too late: asked again
        assert_eq!(guard.action(stop, t0), Action::StopAsked);
        assert_eq!(guard.action(stop, t0 + STOP_CONFIRM * 2), Action::StopAsked);
        // the time counts from the end of the question said
        let mut guard = StopGuard::default();
        assert_eq!(guard.action(stop, t0), Action::StopAsked);
        guard.speaking_until(t0 + Duration::from_secs(4));
        assert_eq!(
            guard.action(Heard::BareStop, t0 + Duration::from_secs(8)),
            Action::StopConfirmed
        );
        assert_eq!(guard.action(stop, t0), Action::StopAsked);
        guard.speaking_until(t0 + Duration::from_secs(4));
        assert_eq!(
            guard.action(stop, t0 + Duration::from_secs(10)),
            Action::StopAsked
        );
        let mut guard = StopGuard::default();
        assert_eq!(guard.action(stop, t0), Action::StopAsked);
        assert_eq!(guard.action(stop, t0 + STOP_CONFIRM * 2), Action::StopAsked);
        // another command in between cancels the stop asked for
        assert_eq!(
            guard.action(Heard::Command(Command::Resume), t0 + STOP_CONFIRM * 2),
            Action::Do(Command::Resume)
        );
        assert_eq!(guard.action(stop, t0 + STOP_CONFIRM * 2), Action::StopAsked);
    }

    #[test]
    fn the_time_left_is_said_in_round_words() {
        assert_eq!(time_left(40_000), "40 seconds left");
        assert_eq!(time_left(61_000), "1 minute left");
        assert_eq!(time_left(12 * 60_000 + 10_000), "12 minutes left");
        assert_eq!(time_left(0), "0 seconds left");
    }
}
