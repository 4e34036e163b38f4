// SPDX-License-Identifier: MPL-2.0
//! The fuzz targets' inputs as a regression test: every file of
//! `fuzz/corpus/TARGET/` (the committed seeds), `fuzz/regressions/TARGET/`
//! (kept crashes) and `fuzz/artifacts/TARGET/` (the last fuzz run's crashes,
//! ignored by git), where there are any, goes through the target's body.
//!
//! The bodies are compiled here from the fuzz crate's library sources, so
//! the main build type-checks every target too. Checking the fuzz crate
//! itself (a workspace of its own, for cargo-fuzz) would resolve the
//! dependencies' features a second time and check ~50 crates again: 164 s
//! of a cold CI run.

#[path = "../fuzz/src/lib.rs"]
mod streamkit_fuzz;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::Instant;
use streamkit_fuzz::targets;

/// The files of `dir` in name order; none when it does not exist.
fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .map(|e| e.expect("readable folder entry").path())
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    found
}

/// Runs `body` on every input of `target`; the corpus must not be empty.
fn replay(target: &str, body: fn(&[u8])) {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let corpus = files(&fuzz.join("corpus").join(target));
    assert!(
        !corpus.is_empty(),
        "fuzz/corpus/{target}/ has no inputs (scripts/fuzz.sh seeds writes them)"
    );
    let regressions = files(&fuzz.join("regressions").join(target));
    let artifacts = files(&fuzz.join("artifacts").join(target));
    let start = Instant::now();
    for path in corpus.iter().chain(&regressions).chain(&artifacts) {
        let data = std::fs::read(path).expect("readable input");
        // The panic's own message is printed above this one.
        if catch_unwind(AssertUnwindSafe(|| body(&data))).is_err() {
            panic!("{target}: fails on {}", path.display());
        }
    }
    println!(
        "{target}: {} inputs ({} corpus, {} regressions, {} artifacts) in {:.2?}",
        corpus.len() + regressions.len() + artifacts.len(),
        corpus.len(),
        regressions.len(),
        artifacts.len(),
        start.elapsed()
    );
}

#[test]
fn delta_decoder() {
    replay("delta_decoder", targets::delta_decoder);
}

#[test]
fn delta_frame() {
    replay("delta_frame", targets::delta_frame);
}

#[test]
fn moq_object() {
    replay("moq_object", targets::moq_object);
}

#[test]
fn rtp_assembler() {
    replay("rtp_assembler", targets::rtp_assembler);
}

#[test]
fn rtp_payload() {
    replay("rtp_payload", targets::rtp_payload);
}

#[test]
fn segment_cutter() {
    replay("segment_cutter", targets::segment_cutter);
}

#[test]
fn stamp_reader() {
    replay("stamp_reader", targets::stamp_reader);
}

/// The seed generator (`make_seeds`) writes each input with the library's
/// writers; the targets read it with its parsers. Each layout reads back
/// as written.
#[test]
fn input_layouts_read_back() {
    use gststreamkit::rtp::PacketMeta;
    use streamkit_fuzz::{
        parse_assembler_script, parse_cutter_units, parse_moq_pieces, write_assembler_step,
        write_cutter_unit, write_moq_piece, AssemblerStep, CutterSettings, CutterUnit, MoqSettings,
        StampInput, CUTTER_DURATION, CUTTER_FIXED_RATE, CUTTER_H265, CUTTER_HEADER_LEN,
        MOQ_HEADER_LEN, STAMP_HEADER_LEN, STAMP_RAW_SAMPLES, UNIT_HAS_DURATION, UNIT_KEYFRAME,
        UNIT_TIMED,
    };

    let meta = |timestamp, seqnum, marker| PacketMeta {
        timestamp,
        seqnum,
        marker,
    };
    let steps = [
        AssemblerStep::Push(meta(0x0102_0304, 0xfffe, true), b"records"),
        AssemblerStep::Push(meta(90_000, 7, false), b""),
        AssemblerStep::NoteLoss,
        AssemblerStep::Drain,
        AssemblerStep::Restart,
        AssemblerStep::Reset,
        AssemblerStep::Advance(250),
    ];
    let mut script = Vec::new();
    for step in &steps {
        write_assembler_step(&mut script, step);
    }
    assert_eq!(parse_assembler_script(&script), steps);

    let settings = CutterSettings {
        flags: CUTTER_H265 | CUTTER_DURATION | CUTTER_FIXED_RATE,
        length: 2000,
        frame_ms: 33,
        wait_100ms: 5,
        delay_ms: 300,
    };
    let units = [
        CutterUnit {
            flags: UNIT_KEYFRAME | UNIT_TIMED | UNIT_HAS_DURATION,
            step_ms: -40,
            data: &[0, 0, 1, 0x40, 1],
        },
        CutterUnit {
            flags: UNIT_TIMED,
            step_ms: 33,
            data: &[],
        },
    ];
    let mut input = Vec::new();
    settings.write(&mut input);
    assert_eq!(input.len(), CUTTER_HEADER_LEN);
    for unit in &units {
        write_cutter_unit(&mut input, unit);
    }
    let (read, rest) = CutterSettings::parse(&input);
    assert_eq!(read, settings);
    assert_eq!(parse_cutter_units(rest), units);

    let stamp = StampInput {
        width: 320,
        height: 240,
        flags: STAMP_RAW_SAMPLES | 0x02,
        row_padding: 3,
        x: 8,
        y: 16,
        block_step: 2,
        frame: 0xdead_beef,
        capture_time_ns: 1_234_567_890_123,
        white: 235,
        black: 16,
    };
    let mut input = Vec::new();
    stamp.write(&mut input);
    assert_eq!(input.len(), STAMP_HEADER_LEN);
    input.extend_from_slice(b"samples");
    assert_eq!(StampInput::parse(&input), Some((stamp, &b"samples"[..])));

    let moq = MoqSettings {
        max_payload: 1500,
        cache_tiles: 16,
    };
    let pieces: [&[u8]; 3] = [b"catalog", b"", b"object"];
    let mut input = Vec::new();
    moq.write(&mut input);
    assert_eq!(input.len(), MOQ_HEADER_LEN);
    for piece in pieces {
        write_moq_piece(&mut input, piece);
    }
    let (read, rest) = MoqSettings::parse(&input);
    assert_eq!(read, moq);
    assert_eq!(parse_moq_pieces(rest), pieces);
}
