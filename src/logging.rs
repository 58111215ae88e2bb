//! What is logged: `RUST_LOG` as the user sets it (`warn` when unset),
//! except that the libraries that decode and play sound are held to
//! warnings unless `RUST_LOG` names them. At `info` they would write a
//! line for every clip decoded (the Ogg demuxer) or every stream opened,
//! which buries the one line per event that matters.

use tracing_subscriber::EnvFilter;

/// The crates held to a level unless named (targets match by prefix).
const QUIET: &[(&str, &str)] = &[
    ("symphonia", "warn"),
    ("rodio", "warn"),
    ("cpal", "warn"),
    ("zbus", "warn"),
    ("mpris_server", "warn"),
];

/// The filter for `rust_log`, the value of `RUST_LOG` if set.
pub fn filter(rust_log: Option<&str>) -> EnvFilter {
    let given = rust_log.unwrap_or("warn");
    let mut filter = EnvFilter::try_new(given).unwrap_or_else(|_| EnvFilter::new("warn"));
    for (target, level) in QUIET {
        if !given.contains(target)
            && let Ok(directive) = format!("{target}={level}").parse()
        {
            filter = filter.add_directive(directive);
        }
    }
    filter
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sound_libraries_are_held_to_warnings_unless_named() {
        let text = filter(Some("info")).to_string();
        assert!(text.contains("symphonia=warn"), "{text}");
        assert!(text.contains("info"), "{text}");
        let text = filter(Some("info,symphonia=debug")).to_string();
        assert!(text.contains("symphonia=debug"), "{text}");
        assert!(!text.contains("symphonia=warn"), "{text}");
        // a bad value falls back to warnings
        assert!(filter(Some("=:=")).to_string().contains("warn"));
        assert!(filter(None).to_string().contains("warn"));
    }
}
