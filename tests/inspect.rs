// SPDX-License-Identifier: MPL-2.0
//! Every element's gst-inspect page is complete.
//!
//! The elements are listed from the registry's features of the `streamkit`
//! plugin, so a new element is checked without being named here. For each:
//!
//! - every property the element installs itself has a blurb, and every enum
//!   or flags type among them is marked as plugin API (so gst-inspect and the
//!   docs tooling list its values), and a counters property (`stats`,
//!   `delta-stats`) is a structure named `application/x-<element>-stats`;
//! - the metadata long description ends with a `gst-launch-1.0` example that
//!   contains the element and runs to end of stream;
//! - `imp.rs` opens with a `SECTION:element-<name>` comment whose examples
//!   parse (every element and property exists) and, when they start from
//!   `videotestsrc`, end by `num-buffers`.

mod common;

use gst::glib;
use gst::prelude::*;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What one check looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    /// Blurbs of the element's own properties, plugin-API enums and flags.
    Properties,
    /// The long description's example, run to EOS.
    LongDescription,
    /// The SECTION comment of `imp.rs` and its examples.
    Section,
}

/// How long a long-description example may take to reach EOS.
const EXAMPLE_TIMEOUT: Duration = Duration::from_secs(60);
/// The relay address the MoQ elements' examples use.
const MOQ_EXAMPLE_URL: &str = "https://127.0.0.1:4443/";

fn factories() -> Vec<gst::ElementFactory> {
    common::init();
    let features = gst::Registry::get().features_by_plugin("streamkit");
    let mut factories: Vec<gst::ElementFactory> = features
        .into_iter()
        .filter_map(|f| f.downcast::<gst::ElementFactory>().ok())
        .collect();
    factories.sort_by_key(|f| f.name().to_string());
    assert!(
        factories.iter().any(|f| f.name() == "deltaenc"),
        "the streamkit plugin's element features were not found in the registry"
    );
    factories
}

/// Runs `check` on every element of the plugin; fails listing every problem.
fn check_all(check: Check, run: impl Fn(&gst::ElementFactory) -> Vec<String>) {
    let mut problems = Vec::new();
    for factory in factories() {
        let name = factory.name().to_string();
        problems.extend(run(&factory).into_iter().map(|p| format!("{name}: {p}")));
    }
    assert!(problems.is_empty(), "{check:?}:\n{}", problems.join("\n"));
}

fn property_problems(factory: &gst::ElementFactory) -> Vec<String> {
    let element = factory.create().build().expect("create element");
    let own_type = element.type_();
    let mut problems = Vec::new();
    let own: Vec<glib::ParamSpec> = element
        .list_properties()
        .iter()
        .filter(|p| p.owner_type() == own_type)
        .cloned()
        .collect();
    for pspec in &own {
        let name = pspec.name();
        // counters: one naming rule for every element (docs/architecture.md)
        if pspec.value_type() == gst::Structure::static_type()
            && (name == "stats" || name.ends_with("-stats"))
        {
            let expected = format!("application/x-{}-stats", factory.name());
            let got = element.property::<gst::Structure>(name);
            if got.name() != expected.as_str() {
                problems.push(format!(
                    "property {name} is a {}, not {expected}",
                    got.name()
                ));
            }
        }
        let blurb = pspec.blurb().unwrap_or("").trim();
        if blurb.is_empty() || blurb == name {
            problems.push(format!("property {name} has no blurb"));
        }
        let value_type = pspec.value_type();
        if (value_type.is_a(glib::Type::ENUM) || value_type.is_a(glib::Type::FLAGS))
            && value_type.plugin_api_flags().is_none()
        {
            problems.push(format!(
                "property {name}: {value_type} is not marked as plugin API"
            ));
        }
    }
    problems
}

/// The pipeline of the `gst-launch-1.0` line in `text`, options dropped.
fn launch_pipeline(line: &str) -> Option<String> {
    let rest = line.split_once("gst-launch-1.0 ")?.1;
    let words: Vec<&str> = rest
        .split_whitespace()
        .skip_while(|w| w.starts_with('-'))
        .collect();
    Some(words.join(" "))
}

fn parse_strict(pipeline: &str) -> Result<gst::Pipeline, String> {
    let mut context = gst::ParseContext::new();
    gst::parse::launch_full(pipeline, Some(&mut context), gst::ParseFlags::FATAL_ERRORS)
        .map_err(|e| format!("`{pipeline}` does not parse: {e}"))?
        .downcast::<gst::Pipeline>()
        .map_err(|_| format!("`{pipeline}` is not a pipeline"))
}

fn contains_factory(pipeline: &gst::Pipeline, name: &str) -> bool {
    pipeline.iterate_recurse().into_iter().any(|e| {
        e.ok()
            .and_then(|e| e.factory())
            .is_some_and(|f| f.name() == name)
    })
}

fn long_description_problems(factory: &gst::ElementFactory, scratch: &Path) -> Vec<String> {
    let name = factory.name();
    let description = factory
        .metadata(gst::ELEMENT_METADATA_DESCRIPTION)
        .unwrap_or("");
    if description.trim().is_empty() {
        return vec!["empty long description".into()];
    }
    let Some(mut pipeline) = launch_pipeline(description) else {
        return vec!["long description has no gst-launch-1.0 example".into()];
    };
    // The MoQ elements' examples go through the relay that
    // pipelines/moq-relay.sh runs: here, one of the test's own, with its
    // address and certificate put in.
    let _relay = if pipeline.contains(MOQ_EXAMPLE_URL) {
        let relay = benchkit::moqrelay::MoqRelay::start().expect("moq-relay starts");
        pipeline = pipeline
            .replace(MOQ_EXAMPLE_URL, &relay.url())
            .replace("$FP", &relay.fingerprint);
        Some(relay)
    } else {
        None
    };
    let parsed = match parse_strict(&pipeline) {
        Ok(p) => p,
        Err(e) => return vec![format!("long description example: {e}")],
    };
    if !contains_factory(&parsed, &name) {
        return vec![format!(
            "long description example `{pipeline}` does not use {name}"
        )];
    }
    // Examples write into the current directory (hlssegmentsink's defaults).
    std::env::set_current_dir(scratch).expect("enter scratch dir");
    let outcome = common::pipeline::run(&parsed, EXAMPLE_TIMEOUT, |_| {});
    match outcome {
        common::pipeline::Outcome::Eos => vec![],
        other => vec![format!(
            "long description example `{pipeline}` did not end in EOS: {other:?}"
        )],
    }
}

/// `src/<area>/<element>/imp.rs`, wherever the area is.
fn imp_rs(name: &str) -> Option<PathBuf> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    std::fs::read_dir(&src)
        .ok()?
        .filter_map(|area| area.ok())
        .map(|area| area.path().join(name).join("imp.rs"))
        .find(|p| p.is_file())
}

/// The `gst-launch-1.0` lines of the SECTION comment's `|[ ... ]|` blocks,
/// continuation lines joined.
fn section_examples(section: &str) -> Vec<String> {
    let mut examples = Vec::new();
    let mut block: Option<String> = None;
    for line in section.lines() {
        let text = line.trim_start().trim_start_matches('*').trim();
        match (&mut block, text) {
            (None, "|[") => block = Some(String::new()),
            (Some(b), "]|") => {
                examples.push(std::mem::take(b));
                block = None;
            }
            (Some(b), _) => {
                b.push(' ');
                b.push_str(text.trim_end_matches('\\').trim());
            }
            (None, _) => {}
        }
    }
    examples
        .into_iter()
        .filter(|e| e.contains("gst-launch-1.0"))
        .collect()
}

fn section_problems(factory: &gst::ElementFactory) -> Vec<String> {
    let name = factory.name();
    let Some(path) = imp_rs(&name) else {
        return vec![format!("no src/<area>/{name}/imp.rs")];
    };
    let source = std::fs::read_to_string(&path).expect("read imp.rs");
    let expected = format!("/**\n * SECTION:element-{name}\n");
    let after_licence = source
        .split_once('\n')
        .map(|(first, rest)| {
            if first.starts_with("//") {
                rest
            } else {
                &source
            }
        })
        .unwrap_or(&source);
    if !after_licence.starts_with(&expected) {
        return vec![format!(
            "{} does not open with `/** SECTION:element-{name}`",
            path.display()
        )];
    }
    let section = after_licence
        .split_once("*/")
        .map_or(after_licence, |(s, _)| s);
    let examples = section_examples(section);
    if examples.is_empty() {
        return vec!["SECTION comment has no gst-launch-1.0 example".into()];
    }
    let mut problems = Vec::new();
    for example in &examples {
        let Some(pipeline) = launch_pipeline(example) else {
            continue;
        };
        if let Err(e) = parse_strict(&pipeline) {
            problems.push(format!("SECTION example: {e}"));
        }
        if pipeline.starts_with("videotestsrc") && !pipeline.contains("num-buffers=") {
            problems.push(format!(
                "SECTION example `{pipeline}` never ends: give videotestsrc num-buffers"
            ));
        }
    }
    problems
}

#[test]
fn own_properties_have_blurbs_and_enums_are_plugin_api() {
    check_all(Check::Properties, property_problems);
}

#[test]
fn long_descriptions_carry_an_example_that_runs() {
    let scratch = common::scratch::ScratchDir::new("inspect");
    let previous = std::env::current_dir().expect("current dir");
    check_all(Check::LongDescription, |f| {
        long_description_problems(f, scratch.path())
    });
    std::env::set_current_dir(previous).expect("leave scratch dir");
}

#[test]
fn sections_open_imp_rs_with_examples_that_parse() {
    check_all(Check::Section, section_problems);
}

/// gst-inspect reads a new instance's value as the default: deltadec's own
/// choice for the base class's keyframe-request interval must show there.
#[test]
fn deltadec_shows_its_keyframe_request_interval() {
    common::init();
    let dec = gst::ElementFactory::make("deltadec").build().unwrap();
    assert_eq!(
        dec.property::<u64>("min-force-key-unit-interval"),
        500_000_000
    );
    let description = dec
        .factory()
        .unwrap()
        .metadata(gst::ELEMENT_METADATA_DESCRIPTION)
        .unwrap_or("")
        .to_string();
    assert!(
        description.contains("min-force-key-unit-interval") && description.contains("500000000"),
        "the long description must say deltadec's default: {description}"
    );
}

/// The formats gst-inspect lists for the codec's raw and delta pads: every
/// format the codec carries natively, on each side.
#[test]
fn codec_pad_templates_list_every_native_format() {
    common::init();
    let formats: Vec<&str> = gststreamkit::delta::PixelFormat::ALL
        .iter()
        .map(|f| f.caps_name())
        .collect();
    let listed = |factory: &str, pad: &str| -> Vec<String> {
        let factory = gst::ElementFactory::find(factory).unwrap();
        let template = factory
            .static_pad_templates()
            .into_iter()
            .find(|t| t.name_template() == pad)
            .unwrap();
        let caps = template.caps();
        let s = caps.structure(0).unwrap();
        s.get::<gst::List>("format")
            .unwrap()
            .iter()
            .map(|v| v.get::<String>().unwrap())
            .collect()
    };
    for (factory, pad) in [
        ("deltaenc", "sink"),
        ("deltadec", "src"),
        ("deltaenc", "src"),
        ("rtpdeltadepay", "src"),
    ] {
        assert_eq!(listed(factory, pad), formats, "{factory} {pad}");
    }
}
