//! `rust-version` in Cargo.toml says which Rust builds massage-cue. It
//! must not claim less than the dependencies need (cargo records each
//! one's own `rust-version`), nor less than the language features the
//! code uses: let chains in `if let ... && ...`, stable from 1.88 in the
//! 2024 edition. The library functions used are held to it by clippy's
//! `incompatible_msrv` lint, denied in Cargo.toml.

use std::process::Command;

use serde_json::Value;

/// What the code itself needs: let chains.
const LANGUAGE_FLOOR: (u32, u32) = (1, 88);

fn version(text: &str) -> (u32, u32) {
    let mut parts = text.split('.').map(|p| p.parse::<u32>().unwrap());
    (parts.next().unwrap(), parts.next().unwrap_or(0))
}

#[test]
fn rust_version_covers_the_code_and_every_dependency() {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: Value = serde_json::from_slice(&output.stdout).unwrap();
    let packages = metadata["packages"].as_array().unwrap();
    let ours = packages
        .iter()
        .find(|p| p["name"] == "massage-cue")
        .and_then(|p| p["rust_version"].as_str())
        .map(version)
        .expect("Cargo.toml sets rust-version");
    assert!(
        ours >= LANGUAGE_FLOOR,
        "rust-version {ours:?} is older than the let chains the code uses need"
    );
    for package in packages {
        if let Some(needed) = package["rust_version"].as_str() {
            assert!(
                ours >= version(needed),
                "rust-version {ours:?} is older than {} {} needs ({needed})",
                package["name"],
                package["version"]
            );
        }
    }
}
