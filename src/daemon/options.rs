//! The options a session is planned with: the configuration's, with what
//! the start request asks for put over them. `plan` and `render` plan the
//! same way from the command line's options.

use crate::plan::Options;
use crate::protocol::StartOptions;

/// `base` (from the configuration) with the request's options put over it.
/// A length asked for wins over a level in the configuration, and a level
/// asked for over a length there.
pub fn session_options(asked: &StartOptions, mut base: Options) -> Options {
    if let Some(level) = asked.level {
        base.level = level;
        base.length = None;
    }
    if let Some(length) = asked.length_ms {
        base.length = Some(length);
        base.length_preferred = false;
    }
    if let Some(detail) = asked.detail {
        base.detail = detail;
    }
    if let Some(tempo) = asked.tempo {
        base.tempo = tempo;
    }
    base
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Detail, Level};

    #[test]
    fn start_options_override_the_configuration() {
        let base = Options {
            length: Some(600_000),
            length_preferred: true,
            ..Options::default()
        };
        let options = session_options(
            &StartOptions {
                level: Some(Level::High),
                detail: Some(Detail::Brief),
                tempo: Some(1.5),
                length_ms: None,
                ..StartOptions::default()
            },
            base.clone(),
        );
        assert_eq!(options.level, Level::High);
        assert_eq!(options.length, None);
        assert_eq!(options.detail, Detail::Brief);
        assert_eq!(options.tempo, 1.5);
        let options = session_options(
            &StartOptions {
                length_ms: Some(1_200_000),
                ..StartOptions::default()
            },
            base,
        );
        assert_eq!(options.length, Some(1_200_000));
        assert!(!options.length_preferred, "asked for, not a preference");
        assert_eq!(options.level, Level::Mid);
    }
}
