//! Routines and clip lengths built in code, for the unit tests of the
//! planner and the session.

use crate::ms::Ms;
use crate::routine::{Kind, Positions, Routine, Span, Step, Transitions, Work};
use crate::speech::{ClipLengths, Sound};

/// Every phrase lasts 100 ms per word; a tick 50 ms, the chime 1 s.
pub(crate) struct Words;

impl ClipLengths for Words {
    fn speech_ms(&self, text: &str) -> Ms {
        100 * text.split_whitespace().count().max(1) as Ms
    }
    fn sound_ms(&self, sound: Sound) -> Ms {
        match sound {
            Sound::Tick => 50,
            Sound::Chime => 1000,
        }
    }
}

/// A step with nothing but its name and work: no sides, positions or rounds.
pub(crate) fn step(name: &str, work: Work) -> Step {
    Step {
        name: name.to_string(),
        say: None,
        tip: None,
        work,
        sides: vec![],
        positions: Positions::Count(1),
        move_text: None,
        between: None,
        restart: None,
        rounds: Span::exactly(1),
        rest: 0,
        transitions: Transitions::for_kind(Kind::Partner),
        hold_say: None,
        release_say: None,
        line: 1,
    }
}

/// A partner routine of these steps and nothing else.
pub(crate) fn routine(name: &str, steps: Vec<Step>) -> Routine {
    Routine {
        name: name.to_string(),
        description: None,
        kind: Kind::Partner,
        length: None,
        course: None,
        cautions: vec![],
        prepare: None,
        steps,
        source: None,
    }
}
