// SPDX-License-Identifier: MPL-2.0
//! Writes the object the viewer page decodes once before its session opens
//! (docs/browser.md, "Warming up"): a changes-only keyframe of a synthetic
//! screen (lines of glyph-like marks on a light background, a dark bar, a
//! coloured panel) at 1280x720 BGRx, in the MoQ object format. A browser
//! compiles a WebAssembly function the first time it runs and optimises it
//! once it has run a while; decoding this while the WebTransport handshake
//! is under way moves that cost out of the join.
//!
//!   streamkit-warm-object OUT

use std::process::ExitCode;

use gststreamkit::delta::canvas::FrameView;
use gststreamkit::delta::encoder::{DeltaEncoder, EncoderConfig};
use gststreamkit::delta::geometry::{Geometry, PixelFormat};
use gststreamkit::moq::object::{write_object, ObjectHeader};

const WIDTH: u32 = 1280;
const HEIGHT: u32 = 720;

fn picture() -> Vec<u8> {
    let mut bgrx = vec![0u8; (WIDTH * HEIGHT * 4) as usize];
    for (i, px) in bgrx.chunks_exact_mut(4).enumerate() {
        let (x, y) = (i as u32 % WIDTH, i as u32 / WIDTH);
        let glyph = (x / 8 + (y / 14) * 7) % 13;
        let mark = y % 14 < 10 && x % 8 < 6 && glyph > 4 && (x * 3 + y * 5 + glyph) % 4 != 0;
        let (b, g, r) = if y < 32 {
            (60, 50, 40)
        } else if x > 900 && y > 400 {
            ((x / 3) as u8, (y / 3) as u8, 160)
        } else if mark {
            (30, 30, 30 + glyph as u8 * 8)
        } else {
            (245, 245, 245)
        };
        px.copy_from_slice(&[b, g, r, 255]);
    }
    bgrx
}

fn main() -> ExitCode {
    let Some(out) = std::env::args().nth(1) else {
        eprintln!("usage: streamkit-warm-object OUT (writes a 1280x720 keyframe object)");
        return ExitCode::from(2);
    };
    // 64: deltaenc's default tile size
    let geometry = Geometry::new(PixelFormat::Bgrx, WIDTH, HEIGHT, 64).expect("a valid geometry");
    let planes = vec![picture()];
    let frame = FrameView::tight(&geometry, &planes).expect("tight planes");
    let encoded = DeltaEncoder::new(geometry, EncoderConfig::LOSSLESS).encode(&frame, true);
    let header = ObjectHeader {
        pts: None,
        sync: true,
        discont: false,
    };
    if let Err(e) = std::fs::write(&out, write_object(&header, &encoded.data)) {
        eprintln!("streamkit-warm-object: {out}: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
