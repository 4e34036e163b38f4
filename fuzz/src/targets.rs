// SPDX-License-Identifier: MPL-2.0
//! The fuzz targets' bodies, one function a target, each documented with
//! what it checks. `fuzz/fuzz_targets/NAME.rs` hands libFuzzer's input to
//! `NAME` here; `tests/fuzz_corpus.rs` in the main crate replays the
//! committed corpus through the same functions.
//!
//! The target modules name the crate root as `super::super`, never
//! `crate`: the main crate's test compiles this library as a module of its
//! own (`#[path] mod streamkit_fuzz`), where `crate` is the test.

mod delta_decoder;
mod delta_frame;
mod moq_object;
mod rtp_assembler;
mod rtp_payload;
mod segment_cutter;
mod stamp_reader;

pub use delta_decoder::delta_decoder;
pub use delta_frame::delta_frame;
pub use moq_object::moq_object;
pub use rtp_assembler::rtp_assembler;
pub use rtp_payload::rtp_payload;
pub use segment_cutter::segment_cutter;
pub use stamp_reader::stamp_reader;
