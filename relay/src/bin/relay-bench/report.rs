// SPDX-License-Identifier: MPL-2.0
//! The bench's figures as a table against issue 11's targets, as JSON, and
//! as a self-contained HTML page with two SVG plots: each join's time to a
//! whole picture, and every viewer's bitrate next to the origin's.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use benchkit::chart::{escape, Axes, Chart, Colour, Mark, Series};

use crate::run::{BenchResult, Spread};

/// A row: what, the figure, the target, whether it is met (None: no
/// target).
type Row = (String, String, &'static str, Option<bool>);

fn spread(s: &Spread, digits: usize) -> String {
    format!(
        "p50 {:.digits$} / p95 {:.digits$} / max {:.digits$} (n={})",
        s.p50, s.p95, s.max, s.count
    )
}

fn rows(r: &BenchResult) -> Vec<Row> {
    let mut rows: Vec<Row> = vec![
        (
            "content".into(),
            format!(
                "{} {}x{} {} fps, origin {:.0} kbit/s; {}",
                r.scene, r.width, r.height, r.fps, r.origin_kbps, r.encoder
            ),
            "",
            None,
        ),
        (
            "viewers".into(),
            format!(
                "{} light + {} full; {} light joins, {} leaves; {} failures; \
                 measured {:.1} s from {:.2} s",
                r.light_viewers,
                r.full_viewers,
                r.light_joins,
                r.light_leaves,
                r.join_failures.len(),
                r.measured_s,
                r.measured_from_s
            ),
            "no failure",
            Some(r.join_failures.is_empty()),
        ),
        (
            "join: PLAY to whole picture, ms".into(),
            spread(&r.join_ms, 1),
            "p95 <= 100",
            Some(r.join_ms.count > 0 && r.join_ms.p95 <= 100.0 && r.never_whole == 0),
        ),
        (
            "join: DESCRIBE to whole picture, ms".into(),
            spread(&r.join_from_describe_ms, 1),
            "",
            None,
        ),
        (
            "sessions never whole".into(),
            format!(
                "{}, of which no packet at all after PLAY: {:?} (key, PLAY s, port)",
                r.never_whole, r.never_a_packet
            ),
            "0",
            Some(r.never_whole == 0),
        ),
        (
            "bytes to the first whole picture, KiB".into(),
            spread(&r.first_picture_kib, 1),
            "",
            None,
        ),
    ];
    for (i, f) in r.full.iter().enumerate() {
        rows.push((
            format!("full viewer {i}: glass to glass, ms"),
            format!(
                "p50 {:.1} / p95 {:.1} / max {:.1}; first picture {} ms; {} frames, {} missing, \
                 {} unreadable; longest stall {:.0} ms",
                f.latency_p50_ms,
                f.latency_p95_ms,
                f.latency_max_ms,
                f.first_picture_ms.map_or("-".into(), |v| format!("{v:.0}")),
                f.frames,
                f.frames_missing,
                f.frames_unreadable,
                f.longest_stall_ms
            ),
            "",
            None,
        ));
    }
    rows.extend([
        (
            "relay transit (origin's packet to the relay's copy), ms".into(),
            format!(
                "{}; {} frames over 100 ms; the slowest arrived at {} s",
                spread(&r.relay_transit_ms, 1),
                r.relay_transit_over_100ms,
                r.relay_transit_max_at_s
                    .map_or("-".into(), |t| format!("{t:.2}"))
            ),
            "",
            None,
        ),
        (
            "origin keyframes during the run (forced)".into(),
            format!("{} ({})", r.origin_keyframes, r.origin_forced_keyframes),
            "0",
            Some(r.origin_keyframes == 0),
        ),
        (
            "relay keyframe requests to the origin".into(),
            r.relay_upstream_keyframe_requests.to_string(),
            "0",
            Some(r.relay_upstream_keyframe_requests == 0),
        ),
        (
            "others' bytes in the 1 s after a join / origin's".into(),
            spread(&r.others_after_join_ratio, 3),
            "no spike (max <= 1.5)",
            Some(r.others_after_join_ratio.max <= 1.5),
        ),
        (
            "joiner kbit/s, first second".into(),
            spread(&r.joiner_first_second_kbps, 0),
            "",
            None,
        ),
        (
            "joiner kbit/s, afterwards".into(),
            spread(&r.joiner_steady_kbps, 0),
            "",
            None,
        ),
        (
            "relay CPU, cores".into(),
            format!(
                "{:.2}, of which kernel {:.2} (bench process {:.2}; {} CPUs, load {} -> {})",
                r.relay_cpu_cores,
                r.relay_system_cores,
                r.bench_cpu_cores,
                r.cpus,
                r.load_start,
                r.load_end
            ),
            "<= 1.0",
            Some(r.relay_cpu_cores <= 1.0),
        ),
        (
            "relay busiest threads, cores (run-queue wait)".into(),
            r.relay_threads
                .iter()
                .take(6)
                .map(|t| {
                    format!(
                        "{} x{} {:.2} (waited {:.0} ms/s)",
                        t.name, t.threads, t.cores, t.waited_ms_per_s
                    )
                })
                .collect::<Vec<_>>()
                .join(", "),
            "",
            None,
        ),
    ]);
    let rss_target = r
        .relay_rss_after_100_mib
        .zip(r.relay_rss_after_all_joins_mib)
        .map(|(first, last)| (last - first).abs() <= 5.0);
    let mib = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.1}"));
    rows.push((
        "relay RSS, MiB".into(),
        format!(
            "start {:.1}, after 100 joins {}, after all joins {}, end {:.1} (every viewer \
             gone); threads {} -> {} -> {}",
            r.relay_rss_start_mib,
            mib(r.relay_rss_after_100_mib),
            mib(r.relay_rss_after_all_joins_mib),
            r.relay_rss_end_mib,
            r.relay_threads_count.0,
            r.relay_threads_count.1,
            r.relay_threads_count.2
        ),
        if rss_target.is_some() {
            "after all joins within 5 of after 100"
        } else {
            ""
        },
        rss_target,
    ));
    rows.extend([
        (
            "relay alive at the end".into(),
            r.relay_alive.to_string(),
            "true",
            Some(r.relay_alive),
        ),
        (
            "light viewers: packets lost, frames lost".into(),
            format!(
                "{} packets; {} frames, at most {} for one viewer, {} viewers with loss",
                r.packets_lost,
                r.frames_lost,
                r.frames_lost_max_per_viewer,
                r.viewers_with_frame_loss
            ),
            "",
            None,
        ),
        (
            "light viewers: longest gap between frames, ms".into(),
            format!(
                "{}; the longest ended at {} s",
                spread(&r.light_longest_gap_ms, 0),
                r.light_longest_gap_at_s
                    .map_or("-".into(), |t| format!("{t:.2}"))
            ),
            "",
            None,
        ),
        (
            "origin: longest gap between frames sent, ms".into(),
            format!(
                "{:.0}, ended at {} s",
                r.origin_longest_gap_ms,
                r.origin_longest_gap_at_s
                    .map_or("-".into(), |t| format!("{t:.2}"))
            ),
            "",
            None,
        ),
    ]);
    rows
}

/// The table for a terminal.
pub fn table(r: &BenchResult) -> String {
    let rows = rows(r);
    let w0 = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
    let mut out = format!("relay-bench ({} mode): {}\n", r.mode, r.command);
    for (what, value, target, ok) in &rows {
        let verdict = match ok {
            Some(true) => "ok",
            Some(false) => "MISSED",
            None => "",
        };
        let _ = writeln!(out, "{what:<w0$}  {value}");
        if !target.is_empty() {
            let _ = writeln!(out, "{:<w0$}    target {target}: {verdict}", "");
        }
    }
    for f in &r.join_failures {
        let _ = writeln!(out, "failure: {f}");
    }
    for c in r.relay_complaints.iter().take(10) {
        let _ = writeln!(out, "relay said: {c}");
    }
    out
}

pub fn write_json(r: &BenchResult, path: &Path) -> Result<()> {
    let text = serde_json::to_string_pretty(r)?;
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// Time from PLAY to the first whole picture: a dot per light viewer
/// session, against the 100 ms target.
fn join_plot(r: &BenchResult) -> String {
    let dots = r
        .sessions
        .iter()
        .filter_map(|s| Some((s.joined_s, s.join_ms?)))
        .collect();
    Chart {
        title: "Time from PLAY to the first whole picture",
        axes: Axes {
            x: "PLAY sent, s from the start",
            y: "to whole picture, ms",
            log_y: false,
        },
        series: vec![Series {
            name: Some("a viewer's join".into()),
            points: dots,
            mark: Mark::Dots,
            colour: Colour::Rgba(0x20, 0x60, 0xc0, 1.0),
            width: 3,
        }],
        references: vec![(100.0, "target, 100 ms".into())],
    }
    .svg()
}

/// Each light viewer's bitrate while it was there (faint), and the
/// origin's (bold), per half second.
fn bitrate_plot(r: &BenchResult) -> String {
    let step = 0.5;
    // `values[i]` is the step `first + i`, drawn at its middle.
    let at = |first: usize, values: &[f64]| -> Vec<(f64, f64)> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| (((first + i) as f64 + 0.5) * step, *v))
            .collect()
    };
    let mut series: Vec<Series> = r
        .sessions
        .iter()
        .map(|sess| {
            // Only the whole steps while it was there.
            let from = (sess.joined_s / step).ceil() as usize;
            let until = sess
                .left_s
                .map_or(sess.kbps.len(), |t| (t / step) as usize)
                .min(sess.kbps.len());
            Series {
                name: None,
                points: at(from, sess.kbps.get(from..until).unwrap_or_default()),
                mark: Mark::Line,
                colour: Colour::Rgba(0x70, 0x90, 0xc0, 0.35),
                width: 1,
            }
        })
        .collect();
    series.push(Series {
        name: Some("origin".into()),
        points: at(0, &r.origin_series_kbps),
        mark: Mark::Line,
        colour: Colour::Rgba(0, 0, 0, 1.0),
        width: 2,
    });
    Chart {
        title: "Bitrate",
        axes: Axes {
            x: "s from the start",
            y: "kbit/s per half second",
            log_y: false,
        },
        series,
        references: Vec::new(),
    }
    .svg()
}

/// A self-contained page: the table, the two plots, the raw figures.
pub fn html(r: &BenchResult) -> String {
    let mut out = String::from(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>relay-bench</title>\
         <style>body{font-family:sans-serif;max-width:1000px;margin:1em auto}\
         td,th{border-bottom:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}\
         .ok{color:#080}.missed{color:#c00;font-weight:bold}</style></head><body>",
    );
    let _ = write!(
        out,
        "<h1>relay-bench</h1><p><code>{}</code></p><table><tr><th>what</th><th>measured</th>\
         <th>target</th><th></th></tr>",
        escape(&r.command)
    );
    for (what, value, target, ok) in rows(r) {
        let verdict = match ok {
            Some(true) => "<span class=\"ok\">ok</span>",
            Some(false) => "<span class=\"missed\">missed</span>",
            None => "",
        };
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{verdict}</td></tr>",
            escape(&what),
            escape(&value),
            escape(target)
        );
    }
    out.push_str("</table>");
    let _ = write!(
        out,
        "<h2>Time from PLAY to the first whole picture</h2><p>One dot per light viewer \
         session; the red line is the 100 ms target.</p>{}\
         <h2>Bitrate</h2><p>Each light viewer (blue, from its join) and the origin (black), \
         per half second. A join shows in the joiner's own line only.</p>{}",
        join_plot(r),
        bitrate_plot(r)
    );
    if !r.join_failures.is_empty() {
        out.push_str("<h2>Failures</h2><ul>");
        for f in &r.join_failures {
            let _ = write!(out, "<li>{}</li>", escape(f));
        }
        out.push_str("</ul>");
    }
    out.push_str("</body></html>\n");
    out
}
