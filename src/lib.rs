//! Cirrus: an open IaaS cloud that speaks EC2, S3 and CloudStack's native API.
//!
//! This crate is the translation core and the server. `model` and `store` hold the cloud's
//! state; `translate` implements the ports that the door crates (`cirrus-ec2`, `cirrus-s3`,
//! `cirrus-native`) define, by turning each typed request into operations of the core;
//! `server` is the one listener in front of the three doors.

pub mod bootstrap;
pub mod cloud;
pub mod config;
pub mod datadir;
pub mod driver;
pub mod error;
pub mod model;
pub mod orchestrator;
pub mod server;
pub mod storage;
pub mod store;
pub mod translate;

/// Milliseconds since the Unix epoch: the store's one time unit.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
