// SPDX-License-Identifier: MPL-2.0
//! The GStreamer-facing pieces that elements of several areas (and the
//! `streamkit-compare` program) share: the delta stream's caps, the common
//! pad templates, and the stamp code on video frames. Everything else with
//! GStreamer types lives in an element's own folder.

pub mod caps;
pub(crate) mod padtemplates;
pub mod stampframe;
