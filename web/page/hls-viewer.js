// SPDX-License-Identifier: MPL-2.0
// The segment path in a browser, for comparison with the viewer page
// (docs/browser.md): hls.js plays the live playlist that hlssegmentsink
// writes; each picture the video element presents is drawn into a canvas
// and its stamp read back with the WebAssembly module, for glass-to-glass
// latency on the same clock as the other two streams.
//
// Query string: src (the playlist's URL), offset (the sender's monotonic
// clock minus the Unix time, ns), report (a URL to send measurements to
// every 500 ms), page (a name for this page in those reports).
import Hls from "hls.js";
import { Streamkit } from "./streamkit.js";

const q = new URLSearchParams(location.search);
const src = q.get("src") ?? "live.m3u8";
const offsetNs = BigInt(q.get("offset") ?? "0");
const report = q.get("report") ?? "";
const video = document.getElementById("video");
const stats = document.getElementById("stats");
const canvas = document.createElement("canvas");
const ctx = canvas.getContext("2d", { willReadFrequently: true });
const lat = [];
const recent = [];
let frames = 0;
let error = "";

const sk = await Streamkit.load(fetch("streamkit.wasm"));
if (!Hls.isSupported()) error = "hls.js: MediaSource unsupported";
const hls = new Hls();
hls.on(Hls.Events.ERROR, (_e, data) => {
  if (data.fatal) error = `${data.type}: ${data.details}`;
});
hls.loadSource(src);
hls.attachMedia(video);
hls.on(Hls.Events.MANIFEST_PARSED, () => video.play().catch((e) => (error = `play: ${e}`)));

function onFrame() {
  canvas.width = Math.min(video.videoWidth, 288);
  canvas.height = Math.min(video.videoHeight, 160);
  ctx.drawImage(video, 0, 0);
  const stamp = sk.readStamp(ctx.getImageData(0, 0, canvas.width, canvas.height));
  if (stamp) {
    frames++;
    const age = performance.timeOrigin + performance.now() - Number(stamp.captureNs - offsetNs) / 1e6;
    lat.push(age.toFixed(1));
    recent.push(age);
    if (recent.length > 150) recent.shift();
  }
  video.requestVideoFrameCallback(onFrame);
}
video.requestVideoFrameCallback(onFrame);

setInterval(() => {
  const sorted = [...recent].sort((a, b) => a - b);
  const p = (x) => (sorted.length ? sorted[Math.floor(x * (sorted.length - 1))].toFixed(0) : "…");
  stats.textContent = `${frames} pictures · latency p50 ${p(0.5)} ms, p95 ${p(0.95)} ms ${error}`;
  if (report) {
    const body = new URLSearchParams({
      page: q.get("page") ?? "hls",
      hlsframes: frames,
      hlslat: lat.splice(0).join(","),
      err: error,
    });
    fetch(`${report}?${body}`, { cache: "no-store" }).catch(() => {});
  }
}, 500);
