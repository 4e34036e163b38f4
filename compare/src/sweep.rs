// SPDX-License-Identifier: MPL-2.0
//! Tables and plots of a loss sweep (scripts/loss-sweep.sh): one JSON per
//! point, named `{network}-l{loss}-r{rtt}.json`. The network is `link`
//! (every strategy across the link, TCP with BBR), `cubic` (the TCP
//! strategies across the link with CUBIC) or `model` (segments on the
//! model); the loss is `0`, `1`, `2`, `5` (percent, independent) or `2o50`
//! (out 2% of the time, in outages of 50 ms on average). Prints Markdown
//! tables; writes SVG plots of p95 latency and the longest stall against
//! random loss, one per round-trip time.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use benchkit::chart::{Axes, Chart};
use serde_json::Value;

/// The loss settings in the order they are shown: file name part, label,
/// and the percentage for plots (None: not plotted against random loss).
const LOSSES: [(&str, &str, Option<f64>); 5] = [
    ("0", "0%", Some(0.0)),
    ("1", "1%", Some(1.0)),
    ("2", "2%", Some(2.0)),
    ("5", "5%", Some(5.0)),
    ("2o50", "2%, outages of 50 ms", None),
];

/// One point's results: (network, loss name, rtt ms) → results by
/// strategy, in run order.
type Points = BTreeMap<(String, String, u32), Vec<Value>>;

fn read(dir: &Path) -> Result<Points> {
    let mut points = Points::new();
    let entries = std::fs::read_dir(dir).with_context(|| format!("{}", dir.display()))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let Some(stem) = name.strip_suffix(".json") else {
            continue;
        };
        let mut parts = stem.splitn(3, '-');
        let (Some(network), Some(loss), Some(rtt)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let (Some(loss), Some(Ok(rtt))) = (
            loss.strip_prefix('l'),
            rtt.strip_prefix('r').map(str::parse::<u32>),
        ) else {
            continue;
        };
        let text = std::fs::read_to_string(entry.path()).with_context(|| name.to_string())?;
        let v: Value = serde_json::from_str(&text).with_context(|| name.to_string())?;
        let results = v["results"].as_array().cloned().unwrap_or_default();
        points.insert((network.to_string(), loss.to_string(), rtt), results);
    }
    if points.is_empty() {
        bail!("no sweep results in {}", dir.display());
    }
    Ok(points)
}

fn f(r: &Value, path: &[&str]) -> Option<f64> {
    path.iter().try_fold(r, |v, k| v.get(*k))?.as_f64()
}

fn cell(v: Option<f64>, decimals: usize) -> String {
    v.map_or("–".into(), |v| format!("{v:.decimals$}"))
}

/// The row cells of one strategy at one point.
fn row(r: &Value) -> String {
    let frames = f(r, &["frames_sent"]).unwrap_or(0.0).max(1.0);
    let pct = |k: &str| f(r, &[k]).map(|v| 100.0 * v / frames);
    format!(
        "{} | {} | {} | {} | {} | {} | {} | {}",
        cell(f(r, &["latency_ms", "p50"]), 0),
        cell(f(r, &["latency_ms", "p95"]), 0),
        cell(f(r, &["latency_ms", "p99"]), 0),
        cell(f(r, &["longest_stall_ms"]), 0),
        cell(pct("frames_lost"), 1),
        cell(pct("frames_frozen"), 1),
        cell(f(r, &["bitrate_kbps"]), 0),
        cell(f(r, &["psnr_mean"]), 1),
    )
}

fn strategies(points: &Points) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for results in points.values() {
        for r in results {
            let id = r["id"].as_str().unwrap_or("?").to_string();
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    ids
}

fn find<'a>(
    points: &'a Points,
    network: &str,
    loss: &str,
    rtt: u32,
    id: &str,
) -> Option<&'a Value> {
    points
        .get(&(network.to_string(), loss.to_string(), rtt))?
        .iter()
        .find(|r| r["id"] == id)
}

/// Markdown tables of `dir`'s sweep; SVG plots written into `plots`.
pub fn tables(dir: &Path, plots: &Path) -> Result<String> {
    let points = read(dir)?;
    let mut rtts: Vec<u32> = points.keys().map(|k| k.2).collect();
    rtts.sort_unstable();
    rtts.dedup();
    let ids = strategies(&points);
    let mut out = String::new();
    for &rtt in &rtts {
        out += &format!(
            "\n#### Round trip {rtt} ms\n\n\
             | strategy | loss | p50 ms | p95 ms | p99 ms | longest stall ms | lost % | frozen % | kbit/s | PSNR dB |\n\
             |---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n"
        );
        for id in &ids {
            for (loss, label, _) in LOSSES {
                if let Some(r) = find(&points, "link", loss, rtt, id) {
                    out += &format!("| {id} | {label} | {} |\n", row(r));
                }
            }
        }
    }

    // The TCP strategies under each congestion control, and the model,
    // where they ran: `link` files ran with bbr (the script sets it),
    // `cubic` files with cubic, `model` files on the model.
    let mut tcp = String::new();
    for &rtt in &rtts {
        for id in ["segments", "hls"] {
            for (loss, label, _) in LOSSES {
                let runs: Vec<Option<&Value>> = ["link", "cubic", "model"]
                    .iter()
                    .map(|n| find(&points, n, loss, rtt, id))
                    .collect();
                if runs[1].is_none() && runs[2].is_none() {
                    continue;
                }
                let cells = |path: &[&str]| {
                    runs.iter()
                        .map(|r| cell(r.and_then(|r| f(r, path)), 0))
                        .collect::<Vec<_>>()
                        .join(" / ")
                };
                let late = runs
                    .iter()
                    .map(|r| {
                        let sent = r.and_then(|r| f(r, &["frames_sent"])).unwrap_or(0.0);
                        let lost = r.and_then(|r| f(r, &["frames_lost"]));
                        cell(lost.map(|l| 100.0 * l / sent.max(1.0)), 0)
                    })
                    .collect::<Vec<_>>()
                    .join(" / ");
                tcp += &format!(
                    "| {id} | {rtt} | {label} | {} | {} | {} | {} | {late} |\n",
                    cells(&["latency_ms", "p50"]),
                    cells(&["latency_ms", "p95"]),
                    cells(&["latency_ms", "p99"]),
                    cells(&["longest_stall_ms"]),
                );
            }
        }
    }
    if !tcp.is_empty() {
        out += "\n#### TCP: BBR / CUBIC / the model\n\n\
                | strategy | RTT ms | loss | p50 ms | p95 ms | p99 ms | longest stall ms | not shown by the end, % |\n\
                |---|---:|---|---:|---:|---:|---:|---:|\n";
        out += &tcp;
    }

    std::fs::create_dir_all(plots).with_context(|| format!("{}", plots.display()))?;
    for &rtt in &rtts {
        for (metric, path, title) in [
            (
                "p95",
                &["latency_ms", "p95"][..],
                "p95 glass-to-glass latency",
            ),
            ("stall", &["longest_stall_ms"][..], "longest stall"),
        ] {
            let series: Vec<(String, Vec<(f64, f64)>)> = ids
                .iter()
                .map(|id| {
                    let s = LOSSES
                        .iter()
                        .filter_map(|(loss, _, pct)| {
                            Some((
                                pct.as_ref().copied()?,
                                f(find(&points, "link", loss, rtt, id)?, path)?,
                            ))
                        })
                        .collect();
                    (id.clone(), s)
                })
                .collect();
            let title = format!("{title}, round trip {rtt} ms");
            let svg = Chart::lines(
                &title,
                Axes {
                    x: "random loss, %",
                    y: "ms (log scale)",
                    log_y: true,
                },
                &series,
            )
            .svg();
            let file = plots.join(format!("loss-{metric}-rtt{rtt}.svg"));
            std::fs::write(&file, svg).with_context(|| format!("{}", file.display()))?;
        }
    }
    Ok(out)
}
