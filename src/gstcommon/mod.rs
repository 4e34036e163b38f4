// SPDX-License-Identifier: MPL-2.0
//! The GStreamer-facing pieces that elements of several areas (and the
//! `streamkit-compare` program) share: the delta stream's caps, the common
//! pad templates, the stamp code on video frames, and the conversion of the
//! cores' times to `ClockTime`s, and the MoQ elements' relay properties. Everything else with
//! GStreamer types lives in an element's own folder.

pub mod caps;
pub(crate) mod clock;
pub(crate) mod moqprops;
pub(crate) mod padtemplates;
pub mod stampframe;
