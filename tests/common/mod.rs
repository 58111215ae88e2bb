//! Helpers shared by the integration tests, and by the examples that
//! measure with them (which include this file by path, so nothing here may
//! name the binary under test: the daemon fixture, which must, is
//! `daemon.rs`, declared by `tests/main.rs`).
#![allow(dead_code)]

pub mod lines;
pub mod onsets;
pub mod rerun;
pub mod sound_server;
pub mod wait;
