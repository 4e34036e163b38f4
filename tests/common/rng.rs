// SPDX-License-Identifier: MPL-2.0
//! A seeded generator, so every run sees the same content and the same loss:
//! the crate's own (one generator for unit tests, integration tests and the
//! examples).

pub use gststreamkit::testrng::Lcg;
