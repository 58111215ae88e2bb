//! Helpers shared by the integration tests, and by the examples that
//! measure with them (which include this file by path).
#![allow(dead_code)]

pub mod home;
pub mod onsets;
pub mod rerun;
pub mod sound_server;
