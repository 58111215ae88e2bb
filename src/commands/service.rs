//! `service install`: the systemd user unit (`contrib/massage-cue.service`)
//! written to the user's systemd folder, running the binary that wrote it.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::CommandError;
use crate::paths::Paths;

/// The unit as shipped; its `ExecStart` names a binary that may not be
/// the one installed, so it is rewritten on install.
const UNIT: &str = include_str!("../../contrib/massage-cue.service");

/// The unit's file name, which is also how `systemctl` names it.
const UNIT_NAME: &str = "massage-cue.service";

/// `service install`.
pub(super) fn install() -> Result<(), CommandError> {
    let paths = Paths::from_env()?;
    let exe = std::env::current_exe()
        .and_then(|exe| exe.canonicalize())
        .map_err(CommandError::Executable)?;
    let dir = unit_dir(&paths);
    let path = dir.join(UNIT_NAME);
    let unit = unit_for(&exe)?;
    fs::create_dir_all(&dir)
        .and_then(|()| write_whole(&path, &unit))
        .map_err(|source| CommandError::Write {
            path: path.clone(),
            source,
        })?;
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "Wrote {} (runs {} daemon).",
        path.display(),
        exe.display()
    )?;
    writeln!(out, "Start it now and at every login with:")?;
    writeln!(out, "    systemctl --user daemon-reload")?;
    writeln!(out, "    systemctl --user enable --now massage-cue")?;
    writeln!(out, "Its log: journalctl --user -u massage-cue")?;
    Ok(())
}

/// `$XDG_CONFIG_HOME/systemd/user`: the folder above massage-cue's own
/// configuration folder.
fn unit_dir(paths: &Paths) -> PathBuf {
    paths
        .config_file
        .parent()
        .and_then(Path::parent)
        .map(|config_home| config_home.join("systemd/user"))
        .expect("the configuration file is always two folders deep")
}

/// The shipped unit with `ExecStart` running `exe daemon`.
fn unit_for(exe: &Path) -> Result<String, CommandError> {
    let exe_path = exe;
    let exe = exe
        .to_str()
        .ok_or_else(|| CommandError::UnitPath(exe.to_owned()))?;
    // a line break would end ExecStart and begin a line of the path's
    // choosing; systemd has no escape for it in a command line
    if exe.chars().any(char::is_control) {
        return Err(CommandError::UnitPathControl(exe_path.to_owned()));
    }
    let mut unit = String::with_capacity(UNIT.len() + exe.len());
    for line in UNIT.lines() {
        if line.starts_with("ExecStart=") {
            unit.push_str(&format!("ExecStart={} daemon", exec_word(exe)));
        } else {
            unit.push_str(line);
        }
        unit.push('\n');
    }
    Ok(unit)
}

/// One word of a systemd command line: `%` and `$` doubled so they are not
/// specifiers or variables, and quoted when it holds spaces or quotes.
fn exec_word(word: &str) -> String {
    let escaped = word.replace('%', "%%").replace('$', "$$");
    if escaped
        .chars()
        .any(|c| c.is_whitespace() || matches!(c, '"' | '\'' | '\\' | ';'))
    {
        format!("\"{}\"", escaped.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        escaped
    }
}

/// Writes `text` to a temporary file beside `path`, then renames it over
/// `path`, so a unit is never seen half-written.
fn write_whole(path: &Path, text: &str) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    fs::write(&tmp, text)?;
    fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_unit_runs_the_daemon_in_the_foreground_and_restarts_it() {
        let exec: Vec<&str> = UNIT
            .lines()
            .filter(|l| l.starts_with("ExecStart="))
            .collect();
        assert_eq!(exec.len(), 1, "{UNIT}");
        assert!(exec[0].ends_with(" daemon"), "{}", exec[0]);
        assert!(!UNIT.contains("--detach"));
        assert!(UNIT.lines().any(|l| l == "Restart=on-failure"));
        assert!(UNIT.lines().any(|l| l == "WantedBy=default.target"));
    }

    #[test]
    fn exec_start_names_the_binary_given() {
        let unit = unit_for(Path::new("/opt/mc/bin/massage-cue")).unwrap();
        assert!(
            unit.lines()
                .any(|l| l == "ExecStart=/opt/mc/bin/massage-cue daemon"),
            "{unit}"
        );
        assert_eq!(unit.lines().count(), UNIT.lines().count());
    }

    #[test]
    fn odd_paths_are_quoted_and_escaped() {
        assert_eq!(exec_word("/a/b"), "/a/b");
        assert_eq!(exec_word("/my apps/mc"), "\"/my apps/mc\"");
        assert_eq!(exec_word("/100%/$x"), "/100%%/$$x");
        assert_eq!(exec_word("/a\"b c"), "\"/a\\\"b c\"");
    }
}
