// SPDX-License-Identifier: MPL-2.0
//! The bench's figures as a table against issue 11's targets, as JSON, and
//! as a self-contained HTML page with two SVG plots: each join's time to a
//! whole picture, and every viewer's bitrate next to the origin's.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use benchkit::chart::{escape, Axes, Chart, Colour, Mark, Series};

use crate::result::{BenchResult, MoqFigures, OriginWindow, ProcessLoad, Spread, ThreadKind};

/// A row: what, the figure, the target, whether it is met (None: no
/// target).
type Row = (String, String, &'static str, Option<bool>);

fn spread(s: &Spread, digits: usize) -> String {
    format!(
        "p50 {:.digits$} / p95 {:.digits$} / max {:.digits$} (n={})",
        s.p50, s.p95, s.max, s.count
    )
}

/// The busiest kinds of thread, with their share of a core.
fn threads(kinds: &[ThreadKind]) -> String {
    kinds
        .iter()
        .take(6)
        .map(|t| {
            format!(
                "{} x{} {:.2} (waited {:.0} ms/s)",
                t.name, t.threads, t.cores, t.waited_ms_per_s
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A process's CPU, memory and busiest threads over the measured span.
fn process_row(what: &str, p: &ProcessLoad) -> Row {
    (
        what.into(),
        format!(
            "{:.2}, of which kernel {:.2}; RSS {:.1} -> {:.1}; {}",
            p.cpu_cores,
            p.system_cores,
            p.rss_start_mib,
            p.rss_end_mib,
            threads(&p.threads)
        ),
        "",
        None,
    )
}

/// What the MoQ origin sent before and while the light viewers joined and
/// watched, on the wire and as moqsink counted: a span's bytes on the wire
/// over the frames it published should not grow with the viewers.
fn moq_origin_rows(m: &MoqFigures) -> Vec<Row> {
    let overhead = |w: &OriginWindow| w.wire_up_kbps / w.published_kbps.max(1e-9);
    let reference = m.windows.first().map(overhead);
    m.windows
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let s = &w.sink;
            let value = format!(
                "{:.1}-{:.1} s, {} joins: on the wire {:.0} kbit/s = {:.3} x the {:.0} kbit/s of \
                 frames published{}, {:.0} KiB of it resent for loss, back {:.0}; moqsink: {} frames, {} keyframes, {} snapshots \
                 ({:.0} kbit/s written, every {} ms), {} read back by its hold",
                w.from_s,
                w.to_s,
                w.joins,
                w.wire_up_kbps,
                overhead(w),
                w.published_kbps,
                w.extra_kib.map_or(String::new(), |k| format!(
                    " ({k:.0} KiB more{})",
                    if w.joins > 0 {
                        format!(", {:.0} a join", k / w.joins as f64)
                    } else {
                        String::new()
                    }
                )),
                s.wire_bytes_lost as f64 / 1024.0,
                w.wire_down_kbps,
                s.frames,
                s.keyframes,
                s.snapshots,
                s.kbps(s.snapshot_bytes),
                m.snapshot_interval_ms,
                s.snapshots_held
            );
            let (target, ok) = match reference {
                Some(before) if i > 0 => (
                    "wire / published within 1.1 x before's, no keyframe",
                    Some(overhead(w) <= before * 1.1 && s.keyframes == 0),
                ),
                _ => ("", None),
            };
            (format!("origin, {}", w.name), value, target, ok)
        })
        .collect()
}

fn rows(r: &BenchResult) -> Vec<Row> {
    let moq = r.moq.as_ref();
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
            if moq.is_some() {
                "join: pipeline start to first picture (light: moqsrc's first buffer), ms"
            } else {
                "join: PLAY to whole picture, ms"
            }
            .into(),
            spread(&r.join_ms, 1),
            "p95 <= 100",
            Some(r.join_ms.count > 0 && r.join_ms.p95 <= 100.0 && r.never_whole == 0),
        ),
    ];
    match moq {
        Some(m) => rows.extend([
            (
                "join, full viewers: pipeline start to first decoded picture, ms".into(),
                spread(&m.full_join_ms, 1),
                "",
                None,
            ),
            (
                "light viewers without a first picture".into(),
                r.never_whole.to_string(),
                "0",
                Some(r.never_whole == 0),
            ),
            (
                "first picture (moqsrc's composite), KiB".into(),
                spread(&r.first_picture_kib, 1),
                "",
                None,
            ),
        ]),
        None => rows.extend([
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
        ]),
    }
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
            if moq.is_some() {
                "origin to viewer (a frame into moqsink to out of a light moqsrc), ms"
            } else {
                "relay transit (origin's packet to the relay's copy), ms"
            }
            .into(),
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
    ]);
    match moq {
        Some(m) => rows.extend(moq_origin_rows(m)),
        None => rows.push((
            "relay keyframe requests to the origin".into(),
            r.relay_upstream_keyframe_requests.to_string(),
            "0",
            Some(r.relay_upstream_keyframe_requests == 0),
        )),
    }
    rows.extend([
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
            threads(&r.relay_threads),
            "",
            None,
        ),
    ]);
    if let Some(m) = moq {
        rows.push((
            "bench process (origin, full viewers) busiest threads, cores".into(),
            threads(&m.bench_threads),
            "",
            None,
        ));
        rows.push(process_row(
            "light viewers' process, cores; RSS MiB",
            &m.viewers_process,
        ));
        rows.push((
            "UDP datagrams dropped, receive buffer full (machine)".into(),
            m.udp_receive_buffer_drops
                .map_or("-".into(), |n| n.to_string()),
            "",
            None,
        ));
    }
    if let Some(root) = moq.and_then(|m| m.root_relay.as_ref()) {
        rows.push(process_row(
            "origin's moq-relay (viewers at the second), cores; RSS MiB",
            root,
        ));
    }
    let rss_target = r
        .relay_rss_after_100_mib
        .zip(r.relay_rss_after_all_joins_mib)
        .map(|(first, last)| (last - first).abs() <= 5.0);
    let mib = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.1}"));
    rows.push((
        "relay RSS, MiB".into(),
        format!(
            "start {:.1}, after 100 joins {}, after all joins {}, {}end {:.1} (every viewer \
             gone); threads {} -> {} -> {}",
            r.relay_rss_start_mib,
            mib(r.relay_rss_after_100_mib),
            mib(r.relay_rss_after_all_joins_mib),
            moq.map_or(String::new(), |m| format!(
                "with the viewers {:.1}, ",
                m.relay_rss_with_viewers_mib
            )),
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
        match moq {
            Some(m) => (
                "light viewers: frames lost; moqsrc's counters (all light viewers)".into(),
                format!(
                    "{} frames, at most {} for one viewer, {} viewers with loss; {}{}",
                    r.frames_lost,
                    r.frames_lost_max_per_viewer,
                    r.viewers_with_frame_loss,
                    m.light_src
                        .iter()
                        .map(|(k, v)| format!("{k} {v}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    m.light_src_times_ms
                        .iter()
                        .map(|(k, s)| format!("; {k}, ms: {}", spread(s, 1)))
                        .collect::<String>()
                ),
                "",
                None,
            ),
            None => (
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
        },
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

/// "timed mode", and the transport when it is MoQ.
fn mode(r: &BenchResult) -> String {
    match &r.moq {
        Some(m) if m.cluster => format!("{} mode, MoQ, two clustered relays", r.mode),
        Some(_) => format!("{} mode, MoQ", r.mode),
        None => format!("{} mode", r.mode),
    }
}

/// The table for a terminal.
pub fn table(r: &BenchResult) -> String {
    let rows = rows(r);
    let w0 = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
    let mut out = format!("relay-bench ({}): {}\n", mode(r), r.command);
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

/// What a join's time counts from (RTSP: PLAY; MoQ: starting the light
/// viewer's pipeline), and to (RTSP: the whole picture; MoQ: moqsrc's
/// first buffer, the picture it built).
fn join_span(r: &BenchResult) -> (&'static str, &'static str) {
    match r.moq {
        Some(_) => (
            "Time from pipeline start to the first picture",
            "pipeline started, s from the start",
        ),
        None => (
            "Time from PLAY to the first whole picture",
            "PLAY sent, s from the start",
        ),
    }
}

/// Time from PLAY to the first whole picture: a dot per light viewer
/// session, against the 100 ms target.
fn join_plot(r: &BenchResult) -> String {
    let dots = r
        .sessions
        .iter()
        .filter_map(|s| Some((s.joined_s, s.join_ms?)))
        .collect();
    let (title, x) = join_span(r);
    Chart {
        title,
        axes: Axes {
            x,
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
    if let Some(m) = &r.moq {
        series.push(Series {
            name: Some("origin on the wire (QUIC to its relay)".into()),
            points: at(0, &m.wire_series_kbps),
            mark: Mark::Line,
            colour: Colour::Rgba(0xc0, 0x30, 0x20, 1.0),
            width: 2,
        });
    }
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
        "<h2>{}</h2><p>One dot per light viewer \
         session; the red line is the 100 ms target.</p>{}\
         <h2>Bitrate</h2><p>Each light viewer (blue, from its join) and the origin (black), \
         per half second. A join shows in the joiner's own line only.</p>{}",
        join_span(r).0,
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
