//! The bundled voice pack: every phrase the bundled routines and the stock
//! vocabulary need is in it (so no user of a bundled routine waits for a
//! phrase to be rendered, or hears the fallback voice), nothing else is,
//! and it is all the one voice whose licence `sounds/README.md` records.

use std::collections::BTreeSet;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_massage-cue");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn index() -> String {
    std::fs::read_to_string(format!("{ROOT}/sounds/voice/index.tsv")).unwrap()
}

/// The phrases the program asks the pack for, as `massage-cue phrases`
/// lists them.
fn phrases_wanted() -> BTreeSet<String> {
    let home = tempfile::tempdir().unwrap();
    let output = Command::new(BIN)
        .arg("phrases")
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path())
        .env("XDG_DATA_HOME", home.path())
        .env("MASSAGE_CUE_ROUTINES", format!("{ROOT}/routines"))
        .env("MASSAGE_CUE_SOUNDS", format!("{ROOT}/sounds"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "massage-cue phrases: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let wanted: BTreeSet<String> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert!(wanted.len() > 1000, "only {} phrases listed", wanted.len());
    wanted
}

#[test]
fn the_pack_holds_exactly_the_phrases_the_program_asks_for() {
    let index = index();
    let in_pack: BTreeSet<String> = index
        .lines()
        .filter(|l| l.starts_with("speech\t"))
        .map(|l| l.split('\t').nth(1).unwrap().to_owned())
        .collect();
    let wanted = phrases_wanted();
    let missing: Vec<_> = wanted.difference(&in_pack).collect();
    let extra: Vec<_> = in_pack.difference(&wanted).collect();
    assert!(
        missing.is_empty(),
        "{} phrases are not in the pack (run scripts/build-voice-pack): {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    assert!(
        extra.is_empty(),
        "{} phrases in the pack are no longer asked for (run scripts/build-voice-pack): {:?}",
        extra.len(),
        &extra[..extra.len().min(10)]
    );
    let sounds: Vec<&str> = index
        .lines()
        .filter(|l| l.starts_with("sound\t"))
        .map(|l| l.split('\t').nth(1).unwrap())
        .collect();
    assert_eq!(sounds, ["tick", "chime"]);
}

#[test]
fn the_pack_is_one_voice_with_recorded_licence() {
    let index = index();
    let engine = index
        .lines()
        .find(|l| l.starts_with("# engine: "))
        .expect("the index names the engine it was rendered with");
    assert!(
        engine.contains("kokoro-onnx") && engine.contains("\"voice\": \"af_heart\""),
        "the pack was rendered with another engine or voice than the one whose licence is recorded: {engine}"
    );
    let readme = std::fs::read_to_string(format!("{ROOT}/sounds/README.md")).unwrap();
    for evidence in ["kokoro-onnx", "af_heart", "Apache", "Licence evidence"] {
        assert!(
            readme.contains(evidence),
            "sounds/README.md lacks {evidence:?}"
        );
    }
    // every file in sounds/ is one the index names (or the index itself,
    // its checksums, the stock phrases and the README): no audio of
    // another voice stays behind
    let named: BTreeSet<String> = index
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("kind\t"))
        .map(|l| l.split('\t').nth(2).unwrap().to_owned())
        .chain(
            [
                "README.md",
                "voice/index.tsv",
                "voice/files.sha256",
                "voice/stock-phrases.txt",
            ]
            .map(str::to_owned),
        )
        .collect();
    let mut stray = Vec::new();
    let mut dirs = vec![std::path::PathBuf::from(format!("{ROOT}/sounds"))];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let rel = path
                .strip_prefix(format!("{ROOT}/sounds/"))
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if !named.contains(&rel) {
                stray.push(rel);
            }
        }
    }
    assert!(
        stray.is_empty(),
        "files in sounds/ no index row names: {stray:?}"
    );
}
