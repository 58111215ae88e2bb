//! Data found where Linux keeps it: the voice pack and the bundled routines
//! beside the program in a source tree, else in the XDG data folders;
//! `doctor` says what it found and what is missing with the fix for each;
//! `install-data` puts a source folder's data in the user's data folder.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::daemon::{BIN, Home, ROOT};

/// The program outside any source tree: a link to the binary under test
/// in a `bin/` folder of the home's own.
fn program_outside(home: &Home) -> PathBuf {
    let bin = home.path().join("bin");
    fs::create_dir_all(&bin).unwrap();
    let exe = bin.join("massage-cue");
    if fs::hard_link(BIN, &exe).is_err() {
        fs::copy(BIN, &exe).unwrap();
    }
    exe
}

/// Runs `program` in `home` with the data folders alone deciding where
/// routines and sounds are.
fn run(home: &Home, program: &Path, args: &[&str]) -> Output {
    home.command_as(program, args)
        .env_remove("MASSAGE_CUE_ROUTINES")
        .env_remove("MASSAGE_CUE_SOUNDS")
        .current_dir(home.path())
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The doctor's line for `what`, and the line after it.
fn doctor_line(report: &str, what: &str) -> (String, String) {
    let lines: Vec<&str> = report.lines().collect();
    let at = lines
        .iter()
        .position(|l| {
            l.split_whitespace()
                .skip(1)
                .collect::<Vec<_>>()
                .join(" ")
                .starts_with(what)
        })
        .unwrap_or_else(|| panic!("no `{what}` line in:\n{report}"));
    (
        lines[at].to_owned(),
        lines.get(at + 1).copied().unwrap_or("").to_owned(),
    )
}

#[test]
fn doctor_in_the_source_tree_finds_its_data_and_names_the_fix_for_what_is_missing() {
    // no sound server reachable: the one thing missing
    let home = Home::new();
    let out = run(&home, Path::new(BIN), &["doctor"]);
    let report = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{report}{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("1 thing is missing"),
        "{}",
        text(&out.stderr)
    );

    let (pack, _) = doctor_line(&report, "voice pack");
    assert!(pack.trim_start().starts_with("ok"), "{pack}");
    assert!(pack.contains(&format!("{ROOT}/sounds (")), "{pack}");
    let (routines, _) = doctor_line(&report, "bundled routines");
    assert!(
        routines.contains("5 (back-acupressure-stretch"),
        "{routines}"
    );
    let (engine, _) = doctor_line(&report, "speech engine");
    assert!(engine.trim_start().starts_with("ok"), "{engine}");
    assert!(engine.contains("espeak-ng"), "{engine}");

    let (output, fix) = doctor_line(&report, "sound output");
    assert!(output.trim_start().starts_with("MISSING"), "{output}");
    assert!(
        output.contains("PULSE_SERVER=unix:/nonexistent"),
        "{output}"
    );
    assert!(fix.trim_start().starts_with("fix: "), "{fix}");

    // the data folders in the order they are searched, the tree first
    let data = home.path().join("data/massage-cue");
    let dirs = home.path().join("data-dirs/massage-cue");
    let first = report
        .find(&format!(
            "1. {ROOT} (beside the program): voice pack, 5 routines"
        ))
        .unwrap_or_else(|| panic!("{report}"));
    let second = report
        .find(&format!("2. {} (XDG_DATA_HOME): not there", data.display()))
        .unwrap_or_else(|| panic!("{report}"));
    let third = report
        .find(&format!("3. {} (XDG_DATA_DIRS): not there", dirs.display()))
        .unwrap_or_else(|| panic!("{report}"));
    assert!(first < second && second < third, "{report}");
}

#[test]
fn outside_a_source_tree_the_data_comes_from_the_xdg_folders_and_install_data_puts_it_there() {
    let home = Home::new();
    let exe = program_outside(&home);

    // nothing installed: the voice pack and the routines are missing, with
    // the command that installs them
    let out = run(&home, &exe, &["doctor"]);
    let report = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{report}");
    for what in ["voice pack", "bundled routines"] {
        let (line, fix) = doctor_line(&report, what);
        assert!(line.trim_start().starts_with("MISSING"), "{line}");
        assert!(
            fix.contains("fix: massage-cue install-data SOURCE"),
            "{fix}"
        );
    }
    let out = run(&home, &exe, &["plan", "lower-back"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));

    // install-data from the source folder
    let out = run(&home, &exe, &["install-data", ROOT]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let data = home.path().join("data/massage-cue");
    assert!(
        text(&out.stdout).contains(&format!("in {}.", data.display())),
        "{}",
        text(&out.stdout)
    );
    for file in [
        "sounds/voice/index.tsv",
        "sounds/chime.ogg",
        "routines/lower-back.toml",
    ] {
        let installed = fs::read(data.join(file)).unwrap();
        assert_eq!(
            installed,
            fs::read(Path::new(ROOT).join(file)).unwrap(),
            "{file}"
        );
    }

    let out = run(&home, &exe, &["doctor"]);
    let report = text(&out.stdout);
    let (pack, _) = doctor_line(&report, "voice pack");
    assert!(pack.trim_start().starts_with("ok"), "{pack}");
    assert!(
        pack.contains(&format!("{} (", data.join("sounds").display())),
        "{pack}"
    );
    let (routines, _) = doctor_line(&report, "bundled routines");
    assert!(routines.trim_start().starts_with("ok"), "{routines}");
    let out = run(&home, &exe, &["plan", "lower-back", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    // again, over the earlier copy: replaced whole, nothing left beside it
    let out = run(&home, &exe, &["install-data", ROOT]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut names: Vec<String> = fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["routines", "sounds"]);
}

#[test]
fn a_system_data_folder_is_found_through_xdg_data_dirs_and_the_user_folder_comes_first() {
    let home = Home::new();
    let exe = program_outside(&home);
    // a system-wide copy in the first XDG_DATA_DIRS entry
    let system = home.path().join("data-dirs");
    let out = run(&home, &exe, &["install-data", ROOT]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    fs::rename(
        home.path().join("data/massage-cue"),
        system.join("massage-cue"),
    )
    .or_else(|_| {
        fs::create_dir_all(&system)?;
        fs::rename(
            home.path().join("data/massage-cue"),
            system.join("massage-cue"),
        )
    })
    .unwrap();
    let out = run(&home, &exe, &["list"]);
    let listed = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(listed.contains("lower-back"), "{listed}");

    // a routine of the same name in the user's data folder wins
    let user = home.path().join("data/massage-cue/routines");
    fs::create_dir_all(&user).unwrap();
    fs::copy(
        Path::new(ROOT).join("routines/waist-self-massage.toml"),
        user.join("lower-back.toml"),
    )
    .unwrap();
    let plan = |home: &Home| {
        let out = run(home, &exe, &["plan", "lower-back", "--json"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let waist = {
        let out = run(&home, &exe, &["plan", "waist-self-massage", "--json"]);
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    assert_eq!(plan(&home)["routine"], waist["routine"]);
    fs::remove_file(user.join("lower-back.toml")).unwrap();
    assert_ne!(plan(&home)["routine"], waist["routine"]);
}

#[test]
fn install_data_from_a_folder_that_is_not_a_source_is_bad_input() {
    let home = Home::new();
    let exe = program_outside(&home);
    let out = run(&home, &exe, &["install-data", "/"]);
    assert_eq!(out.status.code(), Some(2));
    let said = text(&out.stderr);
    assert!(
        said.contains("/ is not a massage-cue source folder"),
        "{said}"
    );
    assert!(!home.path().join("data/massage-cue").exists());
}
