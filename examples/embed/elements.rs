// SPDX-License-Identifier: MPL-2.0
//! Making the elements and chaining them into a pipeline, with errors that
//! name what failed.

use anyhow::{anyhow, Context, Result};
use gst::prelude::*;

/// The element `builder` makes, or an error naming `factory`.
pub fn built(
    factory: &str,
    builder: gst::element_factory::ElementBuilder<'_>,
) -> Result<gst::Element> {
    builder
        .build()
        .map_err(|e| anyhow!("cannot make a {factory}: {e} (is its plugin installed?)"))
}

/// A pipeline named `name` holding `elements`, linked one after the other.
pub fn chain(name: &str, elements: &[&gst::Element]) -> Result<gst::Pipeline> {
    let pipeline = gst::Pipeline::with_name(name);
    pipeline
        .add_many(elements)
        .with_context(|| format!("{name}: cannot add its elements"))?;
    gst::Element::link_many(elements).with_context(|| format!("{name}: cannot link"))?;
    Ok(pipeline)
}
