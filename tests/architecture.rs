//! The core flows one way (docs/ARCHITECTURE.md): the routine model, the
//! planner and the session import nothing that comes after them.

use std::fs;
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The source files of a module: `src/NAME.rs` and everything under
/// `src/NAME/`.
fn files(name: &str) -> Vec<PathBuf> {
    let src = Path::new(ROOT).join("src");
    let mut out = vec![src.join(format!("{name}.rs"))];
    let mut dirs = vec![src.join(name)];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.retain(|p| p.exists());
    out
}

#[test]
fn the_core_imports_only_what_comes_before_it() {
    // each module may use the ones before it in the flow, and the leaves
    let rules: [(&str, &[&str]); 4] = [
        ("routine", &["ms", "line_index", "suggest"]),
        ("speech", &["ms"]),
        ("plan", &["ms", "routine", "speech"]),
        ("session", &["ms", "routine", "speech", "plan"]),
    ];
    for (module, allowed) in rules {
        let sources = files(module);
        assert!(!sources.is_empty(), "no source for {module}");
        for file in sources {
            let text = fs::read_to_string(&file).unwrap();
            for (at, _) in text.match_indices("crate::") {
                let used: String = text[at + 7..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                assert!(
                    used == module || allowed.contains(&used.as_str()),
                    "{} uses crate::{used}, which comes after {module} in the flow",
                    file.display()
                );
            }
            for banned in ["tokio", "rodio", "std::fs", "std::net"] {
                // the parser reads the routine's own file, nothing else
                if module == "routine" && banned == "std::fs" {
                    continue;
                }
                assert!(
                    !text.contains(banned),
                    "{} uses {banned}: the core has no async, sound or I/O",
                    file.display()
                );
            }
        }
    }
}
