//! Helpers shared by the integration tests. Each test binary uses only some
//! of them.
#![allow(dead_code)]

pub mod onsets;
pub mod sound_server;
