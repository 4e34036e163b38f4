// SPDX-License-Identifier: MPL-2.0
//! The app's command line: its help text and its options.

use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};

pub const HELP: &str = "\
embed: an application that embeds the streamkit elements (Rust).

It draws its own pictures (a desktop with a window, a growing progress bar
and a moving icon: each frame changes only in places) and sends them

  appsrc ! framestamp ! deltaenc ! rtpdeltapay ! udpsink host=127.0.0.1

to itself, receiving them in the same process with

  udpsrc ! rtpdeltadepay ! deltadec ! framemeter ! appsink

where it checks each received picture against the one it drew. Half-way
it raises deltaenc's key-int-max while playing and shows the effect in
the encoder's and decoder's stats; it prints framemeter's messages as
they come, every element's stats at the end, and a last line
`result: key=value ...` for scripts.

Usage: cargo run --example embed -- [OPTIONS]

Options:
  --frames N        pictures to send (default 90)
  --fps N           pictures per second (default 30)
  --port N          UDP port on 127.0.0.1 to send to and receive on (default 5004)
  --width N         picture width, at least 320 (default 640)
  --height N        picture height, at least 256 (default 360)
  --change-at N     after this many pictures (fewer than --frames), set
                    key-int-max (default frames/2)
  --key-int-max N   the key-int-max set then: a keyframe every N frames (default 10)
  --timeout S       give up after S seconds (default 60)
  -h, --help        this text

Exit status: 0 when every picture received is one the app drew, at least
one arrived and the property change shows in the stats (when key-int-max
pictures or more follow it); 1 on a GStreamer error or the time-out; 2 on
bad options; 3 when a check failed.
";

/// What the command line asks for.
#[derive(Debug, Clone)]
pub struct Options {
    pub frames: u32,
    pub fps: u32,
    pub port: u16,
    pub width: u32,
    pub height: u32,
    pub change_at: u32,
    pub key_int_max: u32,
    pub timeout: Duration,
}

/// The options `args` give; None when they ask for the help text.
pub fn parse_options(args: &[String]) -> Result<Option<Options>> {
    let mut values = std::collections::HashMap::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        if arg == "-h" || arg == "--help" {
            return Ok(None);
        }
        let (name, value) = match arg.split_once('=') {
            Some((name, value)) => (name, value.to_string()),
            None => (
                arg.as_str(),
                it.next()
                    .with_context(|| format!("{arg} needs a value"))?
                    .clone(),
            ),
        };
        let known = [
            "--frames",
            "--fps",
            "--port",
            "--width",
            "--height",
            "--change-at",
            "--key-int-max",
            "--timeout",
        ];
        if !known.contains(&name) {
            bail!("unknown option {name}");
        }
        let number: u32 = value
            .parse()
            .map_err(|_| anyhow!("{name} wants a whole number, not {value:?}"))?;
        values.insert(name.to_string(), number);
    }
    let get = |name: &str, default: u32| values.get(name).copied().unwrap_or(default);
    let frames = get("--frames", 90);
    let options = Options {
        frames,
        fps: get("--fps", 30),
        port: u16::try_from(get("--port", 5004)).map_err(|_| anyhow!("--port is at most 65535"))?,
        width: get("--width", 640),
        height: get("--height", 360),
        change_at: get("--change-at", frames / 2),
        key_int_max: get("--key-int-max", 10),
        timeout: Duration::from_secs(get("--timeout", 60).into()),
    };
    if options.frames == 0 || options.fps == 0 || options.port == 0 || options.timeout.is_zero() {
        bail!("--frames, --fps, --port and --timeout must be above 0");
    }
    if options.change_at >= options.frames {
        bail!("--change-at must be below --frames");
    }
    // The scene's window needs room for the icon to move in.
    if options.width < 320 || options.height < 256 || options.width > 4096 || options.height > 4096
    {
        bail!("the picture must be 320x256 to 4096x4096");
    }
    Ok(Some(options))
}
