// SPDX-License-Identifier: MPL-2.0
// Runs a feed file through the WebAssembly module in Node.js and prints one
// line per step, in the format web/tests/wasm.rs prints for the native
// build of the same code: the two must match line for line.
//
//   node web/tests/feed.mjs MODULE.wasm FEED
//
// A feed is a sequence of steps: op (1 byte), length (4 bytes, big-endian),
// that many bytes. op 0: decode a frame; 1: decode a MoQ object; 2: note a
// loss; 3: a new view, with four big-endian u32s: max width, max height,
// max object bytes, cache tiles.
import { readFileSync } from "node:fs";
import { Streamkit } from "../page/streamkit.js";

const [wasmPath, feedPath] = process.argv.slice(2);
if (!wasmPath || !feedPath) {
  console.error("usage: node feed.mjs MODULE.wasm FEED");
  process.exit(2);
}
const sk = await Streamkit.load(readFileSync(wasmPath));
const feed = readFileSync(feedPath);
const data = new DataView(feed.buffer, feed.byteOffset, feed.byteLength);
const out = [];
let view = null;
let at = 0;
let step = 0;
while (at < feed.length) {
  const op = feed[at];
  const len = data.getUint32(at + 1);
  const body = feed.subarray(at + 5, at + 5 + len);
  at += 5 + len;
  const now = step++ * 33;
  if (op === 3) {
    const b = new DataView(body.buffer, body.byteOffset, 16);
    if (view) view.free();
    try {
      view = sk.view({
        maxWidth: b.getUint32(0),
        maxHeight: b.getUint32(4),
        maxObjectBytes: b.getUint32(8),
        cacheTiles: b.getUint32(12),
      });
      out.push("view");
    } catch {
      view = null;
      out.push("view refused");
    }
    continue;
  }
  if (op === 2) {
    view.noteLoss();
    out.push("loss");
    continue;
  }
  if (op === 0) view.decode(body, now);
  else view.decodeObject(body, now);
  const o = view.outcome;
  const rects = view.rects.map((r) => r.join(",")).join(";");
  const s = view.stamp();
  const stamp = s ? `${s.frame}:${s.captureNs}` : "-";
  const sum = view.checksum.toString(16).padStart(16, "0");
  out.push(
    `a=${+o.accepted} k=${+o.keyframe} n=${o.frameNumber} t=${o.tilesApplied} d=${o.recordsDropped} ` +
      `m=${o.recallMisses} g=${+o.geometryChanged} w=${+view.whole} ${view.width}x${view.height} ` +
      `c=${sum} r=${rects} s=${stamp} e=${view.error ?? "-"}`,
  );
}
if (view) out.push("stats " + Object.values(view.stats).join(" "));
process.stdout.write(out.join("\n") + "\n");
