// SPDX-License-Identifier: MPL-2.0
//! Building the bench's pipelines and reading their buses. compare's scene
//! module (included by path in main.rs) calls `crate::pipeline::check_bus`,
//! so the bench keeps that name.

use gst::prelude::*;

/// Builds the pipeline `launch` describes.
pub fn launch(launch: &str) -> Result<gst::Pipeline, String> {
    gst::parse::launch(launch)
        .map_err(|e| format!("cannot build pipeline: {e}\n  {launch}"))?
        .downcast::<gst::Pipeline>()
        .map_err(|_| "not a pipeline".to_string())
}

/// Takes every message waiting on `p`'s bus: the first error, named after
/// `side`, as `Err`; otherwise whether the stream ended.
pub fn check_bus(p: &gst::Pipeline, side: &str) -> Result<bool, String> {
    let Some(bus) = p.bus() else {
        return Ok(false);
    };
    let messages: Vec<gst::Message> = std::iter::from_fn(|| bus.pop()).collect();
    if let Some(why) = messages.iter().find_map(|m| match m.view() {
        gst::MessageView::Error(e) => Some(format!(
            "{side}: {} ({})",
            e.error(),
            e.debug().map(|d| d.to_string()).unwrap_or_default()
        )),
        _ => None,
    }) {
        return Err(why);
    }
    Ok(messages
        .iter()
        .any(|m| matches!(m.view(), gst::MessageView::Eos(_))))
}
