//! Finding a routine: by a path, or by its file stem in the user's
//! routines folder and then in the bundled one.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::path::PathBuf;

use thiserror::Error;

use crate::paths::Paths;
use crate::suggest::closest;

/// Where a routine file came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The user's routines folder.
    User,
    /// The routines that come with massage-cue.
    Bundled,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Origin::User => "user",
            Origin::Bundled => "bundled",
        })
    }
}

/// A routine file that can be named by its stem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutineFile {
    /// The file stem, which names the routine on the command line.
    pub name: String,
    pub path: PathBuf,
    pub origin: Origin,
    /// A bundled routine that a user routine of the same name hides: it
    /// cannot be started by name, only by its path.
    pub shadowed: bool,
}

/// Why a routine could not be found.
#[derive(Debug, Error)]
pub enum LookupError {
    #[error("no routine file at {}", .0.display())]
    NoFile(PathBuf),
    #[error("no routine named `{name}`{}", hint.as_deref().map(|h| format!("; {h}")).unwrap_or_default())]
    NoName { name: String, hint: Option<String> },
    #[error("`{name}` could be any of {}; write the name as one of them", .matches.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", "))]
    Ambiguous { name: String, matches: Vec<String> },
}

/// Every routine that can be named: the user's, then the bundled ones that
/// the user's do not shadow (from every data folder, the first of a name
/// winning); sorted by name within each.
pub fn routine_files(paths: &Paths) -> Vec<RoutineFile> {
    all_routine_files(paths)
        .into_iter()
        .filter(|f| !f.shadowed)
        .collect()
}

/// [`routine_files`], with the bundled routines that a user routine of the
/// same name shadows among the bundled ones, marked `shadowed`.
pub fn all_routine_files(paths: &Paths) -> Vec<RoutineFile> {
    let mut found: BTreeMap<String, RoutineFile> = BTreeMap::new();
    let mut user = Vec::new();
    let mut bundled = Vec::new();
    let folders = std::iter::once((paths.user_routines.clone(), Origin::User)).chain(
        paths
            .bundled_routine_dirs()
            .into_iter()
            .map(|dir| (dir, Origin::Bundled)),
    );
    for (dir, origin) in folders {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "toml") || !path.is_file() {
                continue;
            }
            let Some(name) = path.file_stem().and_then(|s| s.to_str()) else {
                continue;
            };
            let shadowed = found.contains_key(name);
            let file = RoutineFile {
                name: name.to_owned(),
                path: path.clone(),
                origin,
                shadowed,
            };
            if !shadowed {
                found.insert(name.to_owned(), file.clone());
            }
            match origin {
                Origin::User => user.push(file),
                Origin::Bundled => bundled.push(file),
            }
        }
    }
    // read_dir has no order; within one folder, list by name
    user.sort_by(|a, b| a.name.cmp(&b.name));
    bundled.sort_by(|a, b| a.name.cmp(&b.name));
    user.extend(bundled);
    user
}

/// The file a routine argument means: a path when it contains a `/` or ends
/// in `.toml`; otherwise a file stem, looked up in the user's routines
/// folder and then in the bundled one. A name that matches no stem exactly
/// matches one whatever its case, when only one does.
pub fn find_routine(name_or_path: &str, paths: &Paths) -> Result<PathBuf, LookupError> {
    if name_or_path.contains('/') || name_or_path.ends_with(".toml") {
        let path = PathBuf::from(name_or_path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(LookupError::NoFile(path))
        };
    }
    let all = routine_files(paths);
    if let Some(file) = all.iter().find(|f| f.name == name_or_path) {
        return Ok(file.path.clone());
    }
    let folded = name_or_path.to_lowercase();
    let same: Vec<&RoutineFile> = all
        .iter()
        .filter(|f| f.name.to_lowercase() == folded)
        .collect();
    match same[..] {
        [] => {}
        [file] => return Ok(file.path.clone()),
        _ => {
            return Err(LookupError::Ambiguous {
                name: name_or_path.to_owned(),
                matches: same.iter().map(|f| f.name.clone()).collect(),
            });
        }
    }
    let names: Vec<&str> = all.iter().map(|f| f.name.as_str()).collect();
    let hint = match closest(name_or_path, &names, &[]) {
        Some(name) => Some(format!("did you mean `{name}`?")),
        None if names.is_empty() => None,
        None => Some(format!("the routines are: {}", names.join(", "))),
    };
    Err(LookupError::NoName {
        name: name_or_path.to_owned(),
        hint,
    })
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::paths::env_in;

    #[test]
    fn routines_are_found_by_stem_user_first_or_by_path() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_owned();
        let user = dir.join("user");
        let bundled = dir.join("bundled");
        fs::create_dir_all(&user).unwrap();
        fs::create_dir_all(&bundled).unwrap();
        for (folder, name) in [
            (&user, "mine"),
            (&user, "shared"),
            (&bundled, "shared"),
            (&bundled, "lower-back"),
        ] {
            fs::write(folder.join(format!("{name}.toml")), "").unwrap();
        }
        fs::write(bundled.join("notes.txt"), "").unwrap();
        let mut paths = Paths::resolve(&env_in(&dir)).unwrap();
        paths.user_routines = user.clone();
        paths.routines_var = Some(bundled.clone());

        assert_eq!(
            find_routine("mine", &paths).unwrap(),
            user.join("mine.toml")
        );
        assert_eq!(
            find_routine("shared", &paths).unwrap(),
            user.join("shared.toml")
        );
        assert_eq!(
            find_routine("lower-back", &paths).unwrap(),
            bundled.join("lower-back.toml")
        );
        let by_path = bundled.join("shared.toml");
        assert_eq!(
            find_routine(by_path.to_str().unwrap(), &paths).unwrap(),
            by_path
        );
        let names: Vec<_> = routine_files(&paths)
            .into_iter()
            .map(|f| (f.name, f.origin))
            .collect();
        assert_eq!(
            names,
            [
                ("mine".to_owned(), Origin::User),
                ("shared".to_owned(), Origin::User),
                ("lower-back".to_owned(), Origin::Bundled)
            ]
        );

        let err = find_routine("lower-bak", &paths).unwrap_err().to_string();
        assert_eq!(
            err,
            "no routine named `lower-bak`; did you mean `lower-back`?"
        );
        let err = find_routine("zzz", &paths).unwrap_err().to_string();
        assert!(
            err.contains("the routines are: mine, shared, lower-back"),
            "{err}"
        );
        let err = find_routine("./nowhere.toml", &paths).unwrap_err();
        assert!(matches!(err, LookupError::NoFile(_)));

        // the shadowed bundled routine is listed, marked
        let all: Vec<_> = all_routine_files(&paths)
            .into_iter()
            .map(|f| (f.name, f.origin, f.shadowed))
            .collect();
        assert_eq!(
            all,
            [
                ("mine".to_owned(), Origin::User, false),
                ("shared".to_owned(), Origin::User, false),
                ("lower-back".to_owned(), Origin::Bundled, false),
                ("shared".to_owned(), Origin::Bundled, true),
            ]
        );
    }

    #[test]
    fn names_match_whatever_their_case_when_only_one_does() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_owned();
        let user = dir.join("user");
        let bundled = dir.join("bundled");
        fs::create_dir_all(&user).unwrap();
        fs::create_dir_all(&bundled).unwrap();
        for (folder, name) in [
            (&user, "Neck"),
            (&user, "Feet"),
            (&bundled, "feet"),
            (&bundled, "lower-back"),
        ] {
            fs::write(folder.join(format!("{name}.toml")), "").unwrap();
        }
        let mut paths = Paths::resolve(&env_in(&dir)).unwrap();
        paths.user_routines = user.clone();
        paths.routines_var = Some(bundled.clone());

        assert_eq!(
            find_routine("Lower-Back", &paths).unwrap(),
            bundled.join("lower-back.toml")
        );
        assert_eq!(
            find_routine("neck", &paths).unwrap(),
            user.join("Neck.toml")
        );
        // an exact name wins over one that differs only in case
        assert_eq!(
            find_routine("feet", &paths).unwrap(),
            bundled.join("feet.toml")
        );
        assert_eq!(
            find_routine("Feet", &paths).unwrap(),
            user.join("Feet.toml")
        );
        let err = find_routine("FEET", &paths).unwrap_err().to_string();
        assert_eq!(
            err,
            "`FEET` could be any of `Feet`, `feet`; write the name as one of them"
        );
    }

    #[test]
    fn bundled_routines_come_from_every_data_folder_the_first_of_a_name_winning() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_owned();
        let home = dir.join("data-home/massage-cue/routines");
        let system = dir.join("usr/massage-cue/routines");
        fs::create_dir_all(&home).unwrap();
        fs::create_dir_all(&system).unwrap();
        fs::write(home.join("lower-back.toml"), "").unwrap();
        fs::write(system.join("lower-back.toml"), "").unwrap();
        fs::write(system.join("hip-knee-mobility.toml"), "").unwrap();
        let env = crate::paths::Environment {
            xdg_data_home: Some(dir.join("data-home").into()),
            xdg_data_dirs: Some(dir.join("usr").into()),
            ..env_in(&dir)
        };
        let paths = Paths::resolve(&env).unwrap();
        let found: Vec<_> = routine_files(&paths)
            .into_iter()
            .map(|f| (f.name, f.path, f.origin))
            .collect();
        assert_eq!(
            found,
            [
                (
                    "hip-knee-mobility".to_owned(),
                    system.join("hip-knee-mobility.toml"),
                    Origin::Bundled
                ),
                (
                    "lower-back".to_owned(),
                    home.join("lower-back.toml"),
                    Origin::Bundled
                ),
            ]
        );
    }
}
