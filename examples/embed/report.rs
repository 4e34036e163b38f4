// SPDX-License-Identifier: MPL-2.0
//! Turning the elements' statistics and messages into lines a person reads.

/// Every field of a `stats` structure, one per line and indented: times in
/// milliseconds, byte counts in kB, the rest as they are.
pub fn stats_block(title: &str, stats: &gst::StructureRef) -> String {
    let mut out = format!("  {title} ({}):\n", stats.name());
    for (field, value) in stats.iter() {
        out += &format!("    {:<28} {}\n", field.as_str(), field_value(field, value));
    }
    out
}

fn field_value(field: &str, value: &glib::Value) -> String {
    let is_time = field.contains("latency") || field.contains("stall");
    if let Ok(v) = value.get::<u64>() {
        if is_time {
            return format!("{:.2} ms", v as f64 / 1e6);
        }
        if field == "bytes" {
            return format!("{v} ({:.1} kB)", v as f64 / 1e3);
        }
        return v.to_string();
    }
    if let Ok(v) = value.get::<f64>() {
        if field.ends_with("ratio") {
            return format!("{:.1}%", v * 100.0);
        }
        return format!("{v:.2}");
    }
    if let Ok(v) = value.get::<u32>() {
        return v.to_string();
    }
    if let Ok(v) = value.get::<i32>() {
        return v.to_string();
    }
    if let Ok(v) = value.get::<bool>() {
        return v.to_string();
    }
    match value.get::<String>() {
        Ok(v) => v,
        Err(_) => format!("{value:?}"),
    }
}

/// One line from `deltaenc`'s stats: how much of the picture it sent.
pub fn encoder_line(stats: &gst::StructureRef) -> String {
    let get = |f| stats.get::<u64>(f).unwrap_or(0);
    format!(
        "{} frames encoded, keyframes {}, {:.1}% of tiles changed, {:.1} kB out",
        get("frames"),
        get("keyframes"),
        stats.get::<f64>("changed-tile-ratio").unwrap_or(0.0) * 100.0,
        get("bytes") as f64 / 1e3,
    )
}

/// One line from a `framemeter` element message: the new frames of the last
/// interval and their glass-to-glass latency.
pub fn meter_line(s: &gst::StructureRef) -> String {
    let get = |f| s.get::<u64>(f).unwrap_or(0);
    let ms = |f| get(f) as f64 / 1e6;
    format!(
        "{} new frames in all ({} in the last interval, {:.1} fps), {} missing, \
         latency p50 {:.1} ms, p95 {:.1} ms",
        get("frames-new"),
        get("interval-frames"),
        s.get::<f64>("interval-fps").unwrap_or(0.0),
        get("frames-missing"),
        ms("interval-latency-p50"),
        ms("interval-latency-p95"),
    )
}
