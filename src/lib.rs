//! vidmocap: turns an ordinary video of a person into 3D motion.
//!
//! The local pipeline (`vidmocap process`) is: probe and decode the video
//! ([`video`]), find and track people and run BlazePose on each ([`pose`],
//! [`infer`]), solve one person's motion over the whole clip ([`motion`]:
//! gaps, smoothing, left/right and facing, root, contacts, the rig fit) on a
//! humanoid rig ([`rig`]) and write the outputs ([`export`]). [`pipeline::run`] is the one
//! entry point every front end (CLI, bench, later the job service) calls.

pub mod bench;
pub mod cli;
pub mod config;
pub mod db;
pub mod doctor;
pub mod error;
pub mod eval;
pub mod export;
pub mod gpu;
pub mod infer;
pub mod locate;
pub mod motion;
pub mod nvml;
pub mod one_euro;
pub mod pipeline;
pub mod pose;
pub mod rig;
pub mod service;
pub mod store;
pub mod video;

pub use error::{Error, ErrorKind};
