// SPDX-License-Identifier: MPL-2.0
//! relay-bench: an origin, the `streamkit-relay` program and N viewers on
//! 127.0.0.1; viewers join and leave during the run. Reports the time from
//! a viewer's PLAY to its first picture with every tile known good,
//! glass-to-glass latency through the relay, keyframes the joins cost the
//! origin, bytes around joins, the relay's CPU and memory, and frames lost
//! per viewer: a table, `--json` and `--html`.
//!
//! Most viewers are light (an RTSP session and a socket, all polled by one
//! thread; the pure decoder runs only until the first whole picture); a
//! few are full GStreamer viewers (`rtspsrc latency=0 ! rtpdeltadepay !
//! deltadec ! framemeter`) that measure latency.
//!
//! `--transport moq` measures the same over Media over QUIC: a `moq-relay`
//! (two, clustered, with `--cluster`), the origin's `moqsink`, light
//! viewers `moqsrc ! fakesink` and full ones `moqsrc ! deltadec !
//! framemeter`.

mod args;
mod bytebins;
mod forwarder;
mod light;
mod moqends;
mod moqrun;
mod origin;
mod relayproc;
mod report;
mod result;
mod rtpheader;
mod rtsp;
mod run;
mod schedule;
mod viewerproc;

use std::process::ExitCode;

use clap::Parser;

use crate::args::{Args, Transport};

fn main() -> ExitCode {
    let args = Args::parse();
    if args.viewer_process {
        return match viewerproc::serve() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("relay-bench viewers: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let result = match args.transport {
        Transport::Rtsp if args.cluster => {
            eprintln!("relay-bench: --cluster needs --transport moq");
            return ExitCode::FAILURE;
        }
        Transport::Rtsp => run::run(&args, command),
        Transport::Moq => moqrun::run(&args, command),
    };
    let result = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("relay-bench: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    print!("{}", report::table(&result));
    if let Some(path) = &args.json {
        if let Err(e) = report::write_json(&result, path) {
            eprintln!("relay-bench: {e:#}");
            return ExitCode::FAILURE;
        }
    }
    if let Some(path) = &args.html {
        if let Err(e) = std::fs::write(path, report::html(&result)) {
            eprintln!("relay-bench: cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
