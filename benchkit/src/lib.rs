// SPDX-License-Identifier: MPL-2.0
//! What Streamkit's measuring programs (`streamkit-compare`, `relay-bench`)
//! and tests share, so that each exists once: the built-in content they
//! measure on ([`scene`]), the GStreamer plumbing of a program that builds
//! pipelines from launch lines ([`pipeline`]), free loopback ports
//! ([`ports`]), CPU time and memory from Linux's /proc ([`procstat`]),
//! the charts of their HTML reports ([`chart`]) and a `moq-relay` as a
//! child process ([`moqrelay`]).
//!
//! A leaf of the workspace: it knows no strategy, none of Streamkit's own
//! programs and none of the plugin's elements, so the plugin's own tests
//! can use it too.

pub mod chart;
pub mod moqrelay;
pub mod pipeline;
pub mod ports;
pub mod procstat;
pub mod scene;
