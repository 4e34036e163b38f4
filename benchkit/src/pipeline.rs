// SPDX-License-Identifier: MPL-2.0
//! The GStreamer plumbing of a program that builds its pipelines from
//! launch lines: build one, find its elements, follow a chain, read the bus.

use anyhow::{anyhow, bail, Context, Result};
use gst::prelude::*;

/// Builds the pipeline `launch` describes.
pub fn parse(launch: &str) -> Result<gst::Pipeline> {
    gst::parse::launch(launch)
        .with_context(|| format!("cannot build pipeline:\n  {launch}"))?
        .downcast::<gst::Pipeline>()
        .map_err(|_| anyhow!("not a pipeline:\n  {launch}"))
}

/// The element of `p` called `name`.
pub fn by_name(p: &gst::Pipeline, name: &str) -> Result<gst::Element> {
    p.by_name(name)
        .with_context(|| format!("pipeline {} has no element {name}", p.name()))
}

/// The last element of the linear chain that starts after the element
/// `from` of `p`: the first whose src pad is not linked.
pub fn chain_end(p: &gst::Pipeline, from: &str) -> Result<gst::Element> {
    let mut element = by_name(p, from)?;
    loop {
        let next = element
            .static_pad("src")
            .and_then(|pad| pad.peer())
            .and_then(|peer| peer.parent_element());
        match next {
            Some(next) => element = next,
            None => return Ok(element),
        }
    }
}

/// Takes every message waiting on `p`'s bus: the first error (named after
/// `side` and the element that posted it) as `Err`, else whether end of
/// stream came.
pub fn check_bus(p: &gst::Pipeline, side: &str) -> Result<bool> {
    let Some(bus) = p.bus() else {
        return Ok(false);
    };
    let mut eos = false;
    while let Some(msg) = bus.pop() {
        match msg.view() {
            gst::MessageView::Error(e) => bail!(
                "{side} error from {}: {} ({})",
                e.src()
                    .map(|s| s.path_string().to_string())
                    .unwrap_or_default(),
                e.error(),
                e.debug().map(|d| d.to_string()).unwrap_or_default()
            ),
            gst::MessageView::Eos(_) => eos = true,
            _ => {}
        }
    }
    Ok(eos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_side_and_the_element_and_eos_is_seen() {
        gst::init().expect("GStreamer initialises");
        let p = parse("fakesrc name=src num-buffers=2 ! fakesink name=sink").expect("builds");
        assert_eq!(chain_end(&p, "src").expect("src exists").name(), "sink");
        assert!(by_name(&p, "nosuch").is_err());
        p.set_state(gst::State::Playing).expect("plays");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !check_bus(&p, "test").expect("no error") {
            assert!(std::time::Instant::now() < deadline, "no EOS within 10 s");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        p.set_state(gst::State::Null).expect("stops");

        let p = parse("filesrc name=nofile location=/nonexistent/streamkit ! fakesink")
            .expect("builds");
        let _ = p.set_state(gst::State::Paused);
        let why = check_bus(&p, "reader").expect_err("an error on the bus");
        assert!(why.to_string().starts_with("reader error from"), "{why}");
        assert!(why.to_string().contains("nofile"), "{why}");
        p.set_state(gst::State::Null).expect("stops");
        assert!(parse("nosuchelement").is_err());
    }
}
