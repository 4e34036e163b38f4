// SPDX-License-Identifier: MPL-2.0
//! The WebAssembly build against the native one: the same feeds (real
//! encoded streams, then corrupted, truncated and oversized frames and
//! objects, and the fuzz corpora) go through `web/dist/streamkit.wasm` in
//! Node.js (`web/tests/feed.mjs`, through the page's own binding
//! `web/page/streamkit.js`) and through [`View`] natively, and every line
//! of what each did must match: accepted or refused and why, tiles
//! applied, the rectangles to repaint, the picture's checksum, the stamp.
//!
//! `scripts/web.sh` builds the module (`scripts/test.sh` runs it first).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use gststreamkit::delta::canvas::FrameView;
use gststreamkit::delta::encoder::{DeltaEncoder, EncoderConfig, TileMode};
use gststreamkit::delta::geometry::{Geometry, PixelFormat};
use gststreamkit::measure::stampcode::{default_layout, PlaneMut, Stamp};
use gststreamkit::moq::object::{write_object, ObjectHeader};
use gststreamkit::testrng::Lcg;
use streamkit_web::view::View;

const FRAME: u8 = 0;
const OBJECT: u8 = 1;
const LOSS: u8 = 2;
const NEW_VIEW: u8 = 3;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn module() -> PathBuf {
    let wasm = root().join("web/dist/streamkit.wasm");
    assert!(
        wasm.exists(),
        "{} missing: run scripts/web.sh (scripts/test.sh does)",
        wasm.display()
    );
    wasm
}

/// One step of a feed.
enum Step {
    Frame(Vec<u8>),
    Object(Vec<u8>),
    Loss,
    NewView([u32; 4]),
}

fn write_feed(steps: &[Step], path: &Path) {
    let mut out = Vec::new();
    let mut put = |op: u8, body: &[u8]| {
        out.push(op);
        out.extend_from_slice(&(body.len() as u32).to_be_bytes());
        out.extend_from_slice(body);
    };
    for s in steps {
        match s {
            Step::Frame(b) => put(FRAME, b),
            Step::Object(b) => put(OBJECT, b),
            Step::Loss => put(LOSS, &[]),
            Step::NewView(v) => {
                let body: Vec<u8> = v.iter().flat_map(|n| n.to_be_bytes()).collect();
                put(NEW_VIEW, &body)
            }
        }
    }
    std::fs::write(path, out).expect("write the feed");
}

/// The lines `feed.mjs` prints, made natively.
fn native(steps: &[Step]) -> Vec<String> {
    let mut out = Vec::new();
    let mut view: Option<View> = None;
    for (i, s) in steps.iter().enumerate() {
        let now = Duration::from_millis(33 * i as u64);
        match s {
            Step::NewView([w, h, o, c]) => {
                view = View::new(*w, *h, *o, *c).ok();
                out.push(
                    if view.is_some() {
                        "view"
                    } else {
                        "view refused"
                    }
                    .to_string(),
                );
                continue;
            }
            Step::Loss => {
                view.as_mut().expect("a view").note_loss();
                out.push("loss".into());
                continue;
            }
            Step::Frame(b) => {
                view.as_mut().expect("a view").decode(b, now);
            }
            Step::Object(b) => {
                view.as_mut().expect("a view").decode_object(b, now);
            }
        }
        let v = view.as_ref().expect("a view");
        let o = v.outcome();
        let rects: Vec<String> = v
            .rects()
            .iter()
            .map(|r| format!("{},{},{},{}", r[0], r[1], r[2], r[3]))
            .collect();
        let stamp = v.stamp().map_or("-".to_string(), |s| {
            format!("{}:{}", s.frame, s.capture_time_ns)
        });
        let (w, h) = v.geometry().map_or((0, 0), |g| (g.width, g.height));
        out.push(format!(
            "a={} k={} n={} t={} d={} m={} g={} w={} {w}x{h} c={:016x} r={} s={stamp} e={}",
            o.accepted as u8,
            o.keyframe as u8,
            o.frame_number,
            o.tiles_applied,
            o.records_dropped,
            o.recall_misses,
            o.geometry_changed as u8,
            v.is_whole() as u8,
            v.checksum().unwrap_or(0),
            rects.join(";"),
            v.error().unwrap_or("-"),
        ));
    }
    if let Some(v) = view {
        let fields: Vec<String> = v.stats_fields().iter().map(u64::to_string).collect();
        out.push(format!("stats {}", fields.join(" ")));
    }
    out
}

fn in_wasm(steps: &[Step], tag: &str) -> Vec<String> {
    let dir = std::env::temp_dir().join(format!("streamkit-wasm-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let feed = dir.join("feed");
    write_feed(steps, &feed);
    let out = Command::new("node")
        .arg(root().join("web/tests/feed.mjs"))
        .arg(module())
        .arg(&feed)
        .output()
        .expect("run node (scripts/deps.sh installs nodejs)");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "node failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .map(str::to_owned)
        .collect()
}

fn assert_same(steps: &[Step], tag: &str) -> Vec<String> {
    let native = native(steps);
    let wasm = in_wasm(steps, tag);
    assert_eq!(native.len(), wasm.len(), "{tag}: line counts differ");
    for (i, (n, w)) in native.iter().zip(&wasm).enumerate() {
        assert_eq!(n, w, "{tag}: step {i} differs (native, then wasm)");
    }
    native
}

/// A screen-like picture: text lines that scroll in the middle, a moving
/// box, and the stamp of frame `t`. Planes tight, in `format`'s layout.
fn screen(format: PixelFormat, width: u32, height: u32, t: u32) -> Vec<Vec<u8>> {
    let luma = |x: u32, y: u32| -> u8 {
        let scroll = if (40..height - 40).contains(&y) {
            t * 6
        } else {
            0
        };
        let line = (y + scroll) / 12;
        let glyph = (x / 7 + line * 13) % 11;
        let inside = (y + scroll) % 12 < 9 && x % 7 < 5 && glyph > 3;
        let boxed = (x + 400 - (t * 9) % 400) % 400 < 48 && (200..248).contains(&(y % 260));
        if boxed {
            40
        } else if inside && ((x * 31 + (y + scroll) * 17 + glyph) % 5 > 1) {
            30 + (glyph * 9) as u8
        } else {
            225
        }
    };
    let (w, h) = (width as usize, height as usize);
    let mut planes = match format {
        PixelFormat::I420 => {
            let mut y = vec![0u8; w * h];
            for (i, p) in y.iter_mut().enumerate() {
                *p = luma((i % w) as u32, (i / w) as u32);
            }
            let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
            let mut u = vec![128u8; cw * ch];
            let v = vec![128u8; cw * ch];
            for (i, p) in u.iter_mut().enumerate() {
                if (i % cw) > cw / 2 && (i / cw) > ch / 2 {
                    *p = 90 + (t % 40) as u8;
                }
            }
            vec![y, u, v]
        }
        _ => {
            let mut p = vec![255u8; w * h * 4];
            for (i, px) in p.chunks_exact_mut(4).enumerate() {
                let l = luma((i % w) as u32, (i / w) as u32);
                px[0] = l;
                px[1] = l.saturating_add(((i % w) / 64) as u8);
                px[2] = l / 2 + 100;
            }
            vec![p]
        }
    };
    let (pixel_stride, components): (usize, &[usize]) = match format {
        PixelFormat::I420 => (1, &[0]),
        _ => (4, &[0, 1, 2]),
    };
    let mut plane = PlaneMut {
        data: &mut planes[0],
        stride: w * pixel_stride,
        pixel_stride,
        components,
        width,
        height,
    };
    let stamp = Stamp {
        frame: t,
        capture_time_ns: 1_000_000_000 + u64::from(t) * 33_333_333,
    };
    plane
        .draw_stamp(&default_layout(), &stamp, 255, 0)
        .expect("the stamp fits");
    planes
}

struct Stream {
    frames: Vec<Vec<u8>>,
    keyframes: Vec<bool>,
    sources: Vec<Vec<Vec<u8>>>,
}

fn encode(g: Geometry, config: EncoderConfig, count: u32) -> Stream {
    let mut encoder = DeltaEncoder::new(g, config);
    let mut s = Stream {
        frames: Vec::new(),
        keyframes: Vec::new(),
        sources: Vec::new(),
    };
    for t in 0..count {
        let planes = screen(g.format, g.width, g.height, t);
        let frame = FrameView::tight(&g, &planes).expect("tight planes");
        let e = encoder.encode(&frame, false);
        s.frames.push(e.data);
        s.keyframes.push(e.keyframe);
        s.sources.push(planes);
    }
    s
}

fn object(frame: &[u8], sync: bool, discont: bool, t: usize) -> Vec<u8> {
    write_object(
        &ObjectHeader {
            pts: Some(Duration::from_millis(33 * t as u64)),
            sync,
            discont,
        },
        frame,
    )
}

fn bgrx_stream() -> Stream {
    let g = Geometry::new(PixelFormat::Bgrx, 640, 360, 64).unwrap();
    encode(
        g,
        EncoderConfig {
            cache_tiles: 64,
            intra_refresh: 30,
            ..EncoderConfig::LOSSLESS
        },
        45,
    )
}

const DEFAULT_VIEW: [u32; 4] = [4096, 2304, 64 << 20, 0];

#[test]
fn the_wasm_decoder_paints_exactly_what_the_native_one_decodes() {
    let a = bgrx_stream();
    let yuv = Geometry::new(PixelFormat::I420, 320, 200, 32).unwrap();
    let lossy = encode(
        yuv,
        EncoderConfig {
            mode: TileMode::Lossy { quality: 70 },
            intra_refresh: 10,
            ..EncoderConfig::LOSSLESS
        },
        20,
    );
    let mut steps = vec![Step::NewView([4096, 2304, 64 << 20, 64])];
    for (t, f) in a.frames.iter().enumerate() {
        steps.push(Step::Object(object(f, a.keyframes[t], false, t)));
    }
    steps.push(Step::NewView(DEFAULT_VIEW));
    for f in &lossy.frames {
        steps.push(Step::Frame(f.clone()));
    }
    let lines = assert_same(&steps, "good");

    // And what both say is right: the lossless stream decodes to its
    // source exactly, and every picture's stamp reads as its frame.
    for (t, source) in a.sources.iter().enumerate() {
        let line = &lines[1 + t];
        let sum = xxhash_rust::xxh3::xxh3_64(&source[0]);
        assert!(line.contains(&format!("c={sum:016x}")), "frame {t}: {line}");
        assert!(line.contains(&format!(" s={t}:")), "frame {t}: {line}");
        assert!(line.starts_with("a=1 ") && line.ends_with("e=-"), "{line}");
    }
    // Only what changed is repainted after the first picture.
    assert!(lines[1].contains("r=0,0,640,360 "), "{}", lines[1]);
    let partial = lines[2..1 + a.frames.len()]
        .iter()
        .filter(|l| !l.contains("r=0,0,640,360 "))
        .count();
    assert!(partial > a.frames.len() / 2, "{lines:?}");
    let yuv_lines = &lines[2 + a.frames.len()..2 + a.frames.len() + lossy.frames.len()];
    assert!(
        yuv_lines.iter().all(|l| l.starts_with("a=1 ")),
        "{yuv_lines:?}"
    );
    assert!(yuv_lines.iter().filter(|l| l.contains(" s=")).count() > 0);
}

#[test]
fn bad_input_is_refused_by_the_wasm_decoder_exactly_as_natively() {
    let a = bgrx_stream();
    let mut rng = Lcg(0x5eed_0020);
    let mut steps = vec![
        Step::NewView([8, 8, 1, 0]),
        Step::NewView([640, 360, 0, 0]),
        Step::NewView([4096, 2304, 64 << 20, 64]),
    ];
    // Corrupted copies between the real frames, so that the decoder's
    // state moves on and every kind of record is hit in every state.
    for (t, f) in a.frames.iter().enumerate() {
        for _ in 0..6 {
            let mut bad = f.clone();
            match rng.next() % 4 {
                0 => bad.truncate(rng.next() as usize % bad.len()),
                1 => {
                    for _ in 0..1 + rng.next() % 8 {
                        let i = rng.next() as usize % bad.len();
                        bad[i] ^= 1 << (rng.next() % 8);
                    }
                }
                2 => {
                    // the header: geometry, tile size, format, flags
                    let i = rng.next() as usize % bad.len().min(24);
                    bad[i] = rng.next() as u8;
                }
                _ => {
                    let at = rng.next() as usize % bad.len();
                    let junk: Vec<u8> = (0..rng.next() % 64).map(|_| rng.next() as u8).collect();
                    bad.splice(at..at, junk);
                }
            }
            if rng.next().is_multiple_of(2) {
                steps.push(Step::Frame(bad));
            } else {
                steps.push(Step::Object(object(
                    &bad,
                    false,
                    rng.next().is_multiple_of(5),
                    t,
                )));
            }
        }
        steps.push(Step::Object(object(f, a.keyframes[t], false, t)));
        if t % 10 == 9 {
            steps.push(Step::Loss);
        }
    }
    // Objects the header check refuses.
    let good = object(&a.frames[1], false, false, 1);
    let mut version = good.clone();
    version[0] = 2;
    let mut flags = good.clone();
    flags[1] = 0x04;
    for o in [good[..5].to_vec(), good[..10].to_vec(), version, flags] {
        steps.push(Step::Object(o));
    }
    // An object over a view's limit, and a picture over its size limits.
    steps.push(Step::NewView([320, 180, 1000, 0]));
    steps.push(Step::Object(object(&a.frames[0], true, false, 0)));
    steps.push(Step::NewView([320, 180, 64 << 20, 0]));
    steps.push(Step::Object(object(&a.frames[0], true, false, 0)));
    // The fuzz corpora of the decoder and the object reader, as frames
    // and as objects.
    steps.push(Step::NewView([4096, 2304, 64 << 20, 8]));
    let corpus = root().join("fuzz/corpus");
    for target in ["delta_decoder", "delta_frame", "moq_object"] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(corpus.join(target))
            .expect("the fuzz corpus")
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for file in files {
            let data = std::fs::read(file).unwrap();
            if data.is_empty() {
                continue;
            }
            steps.push(Step::Object(data.clone()));
            steps.push(Step::Frame(data));
        }
    }
    let lines = assert_same(&steps, "bad");
    assert_eq!(&lines[..2], ["view refused", "view refused"]);
    let refused = lines.iter().filter(|l| l.starts_with("a=0 ")).count();
    let partly = lines
        .iter()
        .filter(|l| l.starts_with("a=1 ") && !l.ends_with("e=-"))
        .count();
    assert!(
        refused > 50 && partly > 50,
        "refused {refused}, partly {partly}"
    );
    for words in [
        "shorter than its 10-byte header",
        "object version 2",
        "object has no payload",
        "over the limit of 1000",
        "over the decoder's limit of 320x180",
    ] {
        assert!(
            lines.iter().any(|l| l.contains(words)),
            "nobody said {words:?}"
        );
    }
}
