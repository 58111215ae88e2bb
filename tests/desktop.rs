//! The pieces that fit massage-cue into a Linux desktop: shell completions
//! and the manual page made from the command line, the systemd user unit
//! and its installer, and the desktop launcher.

use std::fs;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_massage-cue");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Subcommands every completion script and the manual page must know.
const SUBCOMMANDS: &[&str] = &[
    "daemon",
    "start",
    "pause",
    "resume",
    "toggle",
    "next",
    "prev",
    "repeat",
    "stop",
    "status",
    "list",
    "show",
    "plan",
    "check",
    "render",
    "say",
    "history",
    "completions",
    "man",
    "service",
];

fn run(args: &[&str]) -> Output {
    let output = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "massage-cue {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn stdout(args: &[&str]) -> String {
    String::from_utf8(run(args).stdout).unwrap()
}

/// A tool the tests need; `scripts/install-deps --test` installs it.
fn tool(name: &str) -> Command {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .unwrap();
    assert!(
        found.status.success(),
        "{name} is missing; scripts/install-deps --test installs it"
    );
    Command::new(name)
}

#[test]
fn completion_scripts_know_every_subcommand() {
    for shell in ["bash", "zsh", "fish"] {
        let script = stdout(&["completions", shell]);
        for sub in SUBCOMMANDS {
            assert!(
                script.contains(sub),
                "the {shell} script does not mention `{sub}`"
            );
        }
    }
    let bash = stdout(&["completions", "bash"]);
    assert!(bash.contains("complete -F"), "{bash}");
    let zsh = stdout(&["completions", "zsh"]);
    assert!(zsh.starts_with("#compdef massage-cue"), "{zsh}");
    // level values are offered too, not only subcommands
    assert!(bash.contains("low mid high"), "{bash}");
}

#[test]
fn the_bash_script_registers_a_completion_in_bash() {
    let output = Command::new("bash")
        .args([
            "-c",
            &format!("source <('{BIN}' completions bash) && complete -p massage-cue"),
        ])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(out.contains("massage-cue"), "{out}");
}

#[test]
fn an_unknown_shell_is_bad_input() {
    let output = Command::new(BIN)
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn the_manual_page_is_roff_with_every_subcommand() {
    let page = stdout(&["man"]);
    assert!(page.contains(".TH massage-cue 1"), "{page}");
    assert!(page.contains(".SH NAME"), "{page}");
    let subcommands = page
        .split(".SH SUBCOMMANDS")
        .nth(1)
        .expect("a SUBCOMMANDS section");
    for sub in SUBCOMMANDS {
        // roff escapes the hyphen
        let entry = format!("massage\\-cue\\-{sub}(1)");
        assert!(subcommands.contains(&entry), "no {entry} in {page}");
    }
    // hidden commands stay hidden
    assert!(!page.contains("massage\\-cue\\-phrases"), "{page}");
}

/// The unit file `service install` wrote into `config_home`.
fn installed_unit(config_home: &Path) -> (String, String) {
    let output = Command::new(BIN)
        .args(["service", "install"])
        .env("XDG_CONFIG_HOME", config_home)
        .env("HOME", config_home.join("home"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let said = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let unit = fs::read_to_string(config_home.join("systemd/user/massage-cue.service")).unwrap();
    (unit, said)
}

#[test]
fn service_install_writes_a_unit_running_this_binary() {
    let dir = tempfile::tempdir().unwrap();
    let (unit, said) = installed_unit(dir.path());
    let exe = fs::canonicalize(BIN).unwrap();
    let exec: Vec<&str> = unit
        .lines()
        .filter(|l| l.starts_with("ExecStart="))
        .collect();
    assert_eq!(
        exec,
        [format!("ExecStart={} daemon", exe.display())],
        "{unit}"
    );
    assert!(unit.lines().any(|l| l == "Restart=on-failure"), "{unit}");
    assert!(!unit.contains("--detach"), "{unit}");
    assert!(
        said.contains("systemctl --user enable --now massage-cue"),
        "{said}"
    );
    // installing again replaces the unit, and leaves nothing else behind
    let (again, _) = installed_unit(dir.path());
    assert_eq!(again, unit);
    let files: Vec<_> = fs::read_dir(dir.path().join("systemd/user"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(files, ["massage-cue.service"]);
}

#[test]
fn systemd_accepts_the_installed_unit() {
    let dir = tempfile::tempdir().unwrap();
    let (_, _) = installed_unit(dir.path());
    let unit = dir.path().join("systemd/user/massage-cue.service");
    let output = tool("systemd-analyze")
        .arg("verify")
        .arg(&unit)
        .output()
        .unwrap();
    let complaints = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{complaints}");
    // systemd only warns about lines it cannot parse; any word on this
    // unit is a fault
    assert!(!complaints.contains("massage-cue.service"), "{complaints}");
}

/// The bundled routines by file stem.
fn bundled_routines() -> Vec<String> {
    let mut stems: Vec<String> = fs::read_dir(Path::new(ROOT).join("routines"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .map(|p| p.file_stem().unwrap().to_str().unwrap().to_owned())
        .collect();
    stems.sort();
    stems
}

/// The value of `key` in the desktop file's group `group`.
fn desktop_values<'a>(text: &'a str, group: &str, key: &str) -> Vec<&'a str> {
    let mut current = "";
    let mut values = Vec::new();
    for line in text.lines() {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = name;
        } else if current == group
            && let Some(value) = line.strip_prefix(key).and_then(|l| l.strip_prefix('='))
        {
            values.push(value);
        }
    }
    values
}

#[test]
fn the_desktop_launcher_has_an_action_per_bundled_routine() {
    let text = fs::read_to_string(Path::new(ROOT).join("contrib/massage-cue.desktop")).unwrap();
    let actions = desktop_values(&text, "Desktop Entry", "Actions");
    assert_eq!(actions.len(), 1, "{text}");
    let mut actions: Vec<String> = actions[0]
        .split(';')
        .filter(|a| !a.is_empty())
        .map(str::to_owned)
        .collect();
    actions.sort();
    assert_eq!(actions, bundled_routines());
    assert_eq!(desktop_values(&text, "Desktop Entry", "Terminal"), ["true"]);
    for action in &actions {
        let group = format!("Desktop Action {action}");
        assert_eq!(
            desktop_values(&text, &group, "Exec"),
            [format!("launch {action}")],
            "{text}"
        );
        assert_eq!(desktop_values(&text, &group, "Name").len(), 1, "{text}");
    }
}

fn validate_desktop(path: &Path) {
    let output = tool("desktop-file-validate").arg(path).output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{said}");
    assert!(!said.contains("error"), "{said}");
}

#[test]
fn the_desktop_launcher_is_valid_as_shipped_and_as_installed() {
    validate_desktop(&Path::new(ROOT).join("contrib/massage-cue.desktop"));
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(Path::new(ROOT).join("scripts/install-desktop"))
        .env("XDG_DATA_HOME", dir.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let installed = dir.path().join("applications/massage-cue.desktop");
    validate_desktop(&installed);
    let text = fs::read_to_string(&installed).unwrap();
    let launch = Path::new(ROOT).join("launch");
    let launch = launch.to_str().unwrap();
    for routine in bundled_routines() {
        let exec = desktop_values(&text, &format!("Desktop Action {routine}"), "Exec");
        // the checkout's path is quoted when it has a space in it
        assert!(
            exec == [format!("{launch} {routine}")] || exec == [format!("\"{launch}\" {routine}")],
            "{exec:?}"
        );
    }
}
