//! Helpers shared by the integration tests. Each test binary uses only some
//! of them.
#![allow(dead_code)]

pub mod home;
pub mod onsets;
pub mod sound_server;
