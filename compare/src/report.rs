// SPDX-License-Identifier: MPL-2.0
//! The comparison as a terminal table, JSON, CSV and a self-contained HTML
//! page with SVG plots (benchkit's charts).

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use benchkit::chart::{escape, Axes, Chart};
use serde::Serialize;

use crate::result::{Repair, StrategyResult};

/// The whole comparison: settings and one result per strategy.
#[derive(Debug, Serialize)]
pub struct Comparison {
    /// The command line that produced it.
    pub command: String,
    /// Content.
    pub scene: String,
    /// Picture size and rate.
    pub width: u32,
    /// Picture height.
    pub height: u32,
    /// Frames per second.
    pub fps: u32,
    /// Seconds each strategy sent.
    pub duration_s: f64,
    /// All strategies ran at the same time (else one after another).
    pub parallel: bool,
    /// How the network was made: `link` (the emulator, real packets) or
    /// `model` (netsim, and a model of TCP).
    pub network: String,
    /// Packet loss probability, both ways (the model: on UDP paths, and
    /// retransmission stalls on TCP).
    pub loss: f64,
    /// Mean duration of the link's outages, ms (None: independent losses).
    pub outage_ms: Option<u32>,
    /// Seconds after which loss stopped.
    pub loss_until_s: Option<f64>,
    /// One-way delay, ms.
    pub delay_ms: u32,
    /// Jitter, +- ms.
    pub jitter_ms: u32,
    /// Bandwidth cap, kbit/s.
    pub bandwidth_kbps: Option<u32>,
    /// Queue at the bandwidth cap, KiB (the link).
    pub queue_kb: u32,
    /// Strategies not run, and why.
    pub skipped: Vec<(String, String)>,
    /// Results, in run order.
    pub results: Vec<StrategyResult>,
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("-".into(), |v| format!("{v:.digits$}"))
}

const COLUMNS: [&str; 16] = [
    "strategy",
    "kbit/s",
    "lat p50",
    "p95",
    "p99",
    "stall",
    "sent",
    "lost",
    "lost %",
    "frozen",
    "unread",
    "rtx/kf",
    "PSNR dB",
    "PSNR end",
    "SSIM",
    "CPU tx/rx ms/f",
];

fn row(r: &StrategyResult) -> [String; 16] {
    let lost_pct = if r.frames_sent > 0 {
        100.0 * r.frames_lost as f64 / r.frames_sent as f64
    } else {
        0.0
    };
    [
        r.id.clone(),
        format!("{:.0}", r.bitrate_kbps),
        format!("{:.1}", r.latency_ms.p50),
        format!("{:.1}", r.latency_ms.p95),
        format!("{:.1}", r.latency_ms.p99),
        format!("{:.0}", r.longest_stall_ms),
        r.frames_sent.to_string(),
        r.frames_lost.to_string(),
        format!("{lost_pct:.1}"),
        r.frames_frozen.to_string(),
        r.frames_unreadable.to_string(),
        r.repair.as_ref().map_or("-".into(), |p| {
            format!("{}/{}", p.retransmissions_sent, r.keyframe_requests)
        }),
        opt(r.psnr_mean, 1),
        opt(r.psnr_last_second, 1),
        opt(r.ssim_mean, 3),
        match &r.moq {
            Some(m) => format!(
                "{:.2}/{:.2} +{:.2}",
                r.cpu_sender_ms_per_frame, r.cpu_receiver_ms_per_frame, m.quic_cpu_ms_per_frame
            ),
            None => format!(
                "{:.2}/{:.2}",
                r.cpu_sender_ms_per_frame, r.cpu_receiver_ms_per_frame
            ),
        },
    ]
}

/// A plain-text table, one line per strategy (latency in ms).
pub fn table(c: &Comparison) -> String {
    let rows: Vec<[String; 16]> = c.results.iter().map(row).collect();
    let mut widths: Vec<usize> = COLUMNS.iter().map(|h| h.len()).collect();
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.len());
        }
    }
    let mut out = String::new();
    let line = |cells: &[String], out: &mut String| {
        let parts: Vec<String> = cells
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (cell, w))| {
                if i == 0 {
                    format!("{cell:<w$}")
                } else {
                    format!("{cell:>w$}")
                }
            })
            .collect();
        let _ = writeln!(out, "{}", parts.join("  ").trim_end());
    };
    line(&COLUMNS.map(String::from), &mut out);
    for r in &rows {
        line(r, &mut out);
    }
    for (id, why) in &c.skipped {
        let _ = writeln!(out, "{id}: skipped ({why})");
    }
    for r in &c.results {
        if let Some(m) = &r.moq {
            let _ = writeln!(
                out,
                "{}: moqsink published {} frames; moqsrc gave up {}, built {} pictures \
                 ({} repairs from its own state), {} tries failed",
                r.id,
                m.frames_published,
                m.frames_given_up,
                m.composites,
                m.own_repairs,
                m.composite_failures
            );
        }
    }
    out
}

/// One CSV line per strategy with the summary numbers.
pub fn csv(c: &Comparison) -> String {
    let mut out = String::from(
        "strategy,bitrate_kbps,latency_p50_ms,latency_p95_ms,latency_p99_ms,latency_max_ms,longest_stall_ms,\
         frames_sent,frames_received,frames_lost,frames_frozen,frames_unreadable,\
         psnr_mean_db,psnr_min_db,ssim_mean,psnr_last_second_db,cpu_sender_ms_per_frame,\
         cpu_receiver_ms_per_frame,keyframe_requests,retransmissions_requested,\
         retransmissions_sent,retransmissions_recovered,packets_lost_for_good,\
         rtcp_bytes_to_receiver,rtcp_bytes_to_sender,moq_quic_cpu_ms_per_frame\n",
    );
    for r in &c.results {
        let repair = |f: fn(&Repair) -> u64| {
            r.repair
                .as_ref()
                .map_or(String::new(), |p| f(p).to_string())
        };
        let _ = writeln!(
            out,
            "{},{:.1},{:.2},{:.2},{:.2},{:.2},{:.1},{},{},{},{},{},{},{},{},{},{:.3},{:.3},{},{},{},{},{},{},{},{}",
            r.id,
            r.bitrate_kbps,
            r.latency_ms.p50,
            r.latency_ms.p95,
            r.latency_ms.p99,
            r.latency_ms.max,
            r.longest_stall_ms,
            r.frames_sent,
            r.frames_received,
            r.frames_lost,
            r.frames_frozen,
            r.frames_unreadable,
            opt(r.psnr_mean, 2),
            opt(r.psnr_min, 2),
            opt(r.ssim_mean, 4),
            opt(r.psnr_last_second, 2),
            r.cpu_sender_ms_per_frame,
            r.cpu_receiver_ms_per_frame,
            r.keyframe_requests,
            repair(|p| p.retransmissions_requested),
            repair(|p| p.retransmissions_sent),
            repair(|p| p.retransmissions_recovered),
            repair(|p| p.packets_lost),
            repair(|p| p.rtcp_bytes_to_receiver),
            repair(|p| p.rtcp_bytes_to_sender),
            r.moq
                .as_ref()
                .map_or(String::new(), |m| format!("{:.3}", m.quic_cpu_ms_per_frame)),
        );
    }
    out
}

/// A self-contained HTML page: settings, the table, and plots of latency,
/// bitrate and quality over time.
pub fn html(c: &Comparison) -> String {
    let latency: Vec<(String, Vec<(f64, f64)>)> = c
        .results
        .iter()
        .map(|r| {
            (
                r.id.clone(),
                r.frames.iter().map(|f| (f.t, f.latency_ms)).collect(),
            )
        })
        .collect();
    let bitrate: Vec<(String, Vec<(f64, f64)>)> = c
        .results
        .iter()
        .map(|r| {
            (
                r.id.clone(),
                r.bitrate_series
                    .iter()
                    .enumerate()
                    .map(|(i, &k)| (i as f64 + 0.5, k))
                    .collect(),
            )
        })
        .collect();
    let quality: Vec<(String, Vec<(f64, f64)>)> = c
        .results
        .iter()
        .map(|r| {
            (
                r.id.clone(),
                r.frames
                    .iter()
                    .filter_map(|f| f.psnr.map(|p| (f.t, p)))
                    .collect(),
            )
        })
        .collect();

    let mut rows = String::new();
    for r in &c.results {
        let cells: String = row(r)
            .iter()
            .map(|cell| format!("<td>{}</td>", escape(cell)))
            .collect();
        let _ = writeln!(rows, "<tr title=\"{}\">{cells}</tr>", escape(&r.label));
    }
    let header: String = COLUMNS.iter().map(|h| format!("<th>{h}</th>")).collect();
    let labels: String =
        c.results
            .iter()
            .map(|r| format!("<li><b>{}</b>: {}</li>", escape(&r.id), escape(&r.label)))
            .chain(c.skipped.iter().map(|(id, why)| {
                format!("<li><b>{}</b>: skipped ({})</li>", escape(id), escape(why))
            }))
            .collect();
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Streamkit comparison</title>\
         <style>body{{font-family:sans-serif;max-width:960px;margin:auto}}\
         table{{border-collapse:collapse}}td,th{{border:1px solid #bbb;padding:3px 8px;text-align:right}}\
         td:first-child{{text-align:left}}code{{background:#eee}}</style></head><body>\n\
         <h1>Streamkit: strategies side by side</h1>\n\
         <p><code>{command}</code></p>\n\
         <p>Content: {scene}, {w}x{h} at {fps} fps, {dur:.0} s per strategy, {order}. Network ({network}): loss {loss:.1}%{burst}{until}, \
         delay {delay} ms &plusmn; {jitter} ms, bandwidth {bw}{tcp}.</p>\n\
         <table><tr>{header}</tr>\n{rows}</table>\n<ul>{labels}</ul>\n\
         <p>Latency is glass to glass (framestamp to framemeter, same host clock), in ms; \
         stall: the longest time between two new pictures, ms. \
         Lost = frames stamped but never shown. Frozen = a picture shown again. \
         rtx/kf (where RTCP gives a return path): packets sent again on request / \
         keyframe requests that reached the encoder. \
         PSNR/SSIM: luma at half resolution against the original with the same frame number; \
         PSNR end: frames captured in the last second (after any loss window). \
         CPU: milliseconds of CPU per frame in the sender's and receiver's threads; \
         for MoQ, +: the QUIC runtime both ends share (with all strategies at once, \
         every MoQ run's).</p>\n\
         <h2>Latency</h2>{lat}\n<h2>Bitrate</h2>{bit}\n<h2>Quality</h2>{q}\n</body></html>\n",
        command = escape(&c.command),
        scene = escape(&c.scene),
        w = c.width,
        h = c.height,
        fps = c.fps,
        dur = c.duration_s,
        order = if c.parallel {
            "all at the same time"
        } else {
            "one after another"
        },
        network = if c.network == "link" {
            "the link emulator, real packets between two network namespaces"
        } else {
            "netsim on UDP, a model of TCP"
        },
        loss = c.loss * 100.0,
        tcp = c
            .results
            .iter()
            .find_map(|r| r.link.as_ref())
            .map_or(String::new(), |l| {
                format!("; TCP congestion control {}", escape(&l.tcp_congestion_control))
            }),
        burst = c
            .outage_ms
            .map_or(String::new(), |ms| format!(" in outages of {ms} ms on average")),
        until = c
            .loss_until_s
            .map_or(String::new(), |u| format!(" (until {u:.1} s)")),
        delay = c.delay_ms,
        jitter = c.jitter_ms,
        bw = c
            .bandwidth_kbps
            .map_or("unlimited".into(), |k| format!("{k} kbit/s")),
        lat = Chart::lines(
            "Glass-to-glass latency per frame",
            Axes { x: "seconds", y: "ms", log_y: false },
            &latency).svg(),
        bit = Chart::lines(
            "Bitrate on the wire",
            Axes { x: "seconds", y: "kbit/s", log_y: false },
            &bitrate).svg(),
        q = Chart::lines(
            "PSNR per frame",
            Axes { x: "seconds", y: "dB", log_y: false },
            &quality).svg(),
    )
}

/// Prints the table, writes the HTML page to `html_path` and, where asked,
/// the JSON and the CSV.
pub fn write(
    c: &Comparison,
    html_path: &Path,
    json_path: Option<&Path>,
    csv_path: Option<&Path>,
) -> Result<()> {
    print!("{}", table(c));
    std::fs::write(html_path, html(c))
        .with_context(|| format!("cannot write {}", html_path.display()))?;
    println!("report: {}", html_path.display());
    if let Some(path) = json_path {
        let text = serde_json::to_string_pretty(c)?;
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(path) = csv_path {
        std::fs::write(path, csv(c)).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}
