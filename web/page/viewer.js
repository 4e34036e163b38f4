// SPDX-License-Identifier: MPL-2.0
// Streamkit's browser viewer (docs/browser.md): subscribes to a broadcast
// at a MoQ relay over WebTransport (@moq/net), decodes the changes-only
// track in the WebAssembly module and paints only the tiles that changed;
// plays the H.264 broadcast of the same source through WebCodecs beside
// it; shows latency, frame rate and bitrate live.
//
// Settings come from config.json beside the page (the demo writes it) and
// the page's query string, which wins:
//   relay     the relay's URL (https://127.0.0.1:4443/)
//   fp        the relay certificate's SHA-256, hex (pinned; no CA needed)
//   name      the changes-only broadcast (screen)
//   h264      the H.264 broadcast ("" for none)
//   offset    the sender's monotonic clock minus the Unix time, in
//             nanoseconds: capture times in stamps are monotonic
//   latency   ms a frame may wait behind a missing one before the relay
//             is asked for it (100, as moqsrc)
//   report    a URL the page sends what it measured to, every 500 ms
//             (the tests' collector), with checksums of painted frames
//   page      a name for this page in those reports
import * as Moq from "@moq/net";
import { Streamkit } from "./streamkit.js";

const $ = (id) => document.getElementById(id);

async function settings() {
  let file = {};
  try {
    const r = await fetch("config.json", { cache: "no-store" });
    if (r.ok) file = await r.json();
  } catch {
    // no config.json: the query string must say everything
  }
  const q = new URLSearchParams(location.search);
  const get = (k, d) => q.get(k) ?? file[k] ?? d;
  return {
    relay: get("relay", "https://127.0.0.1:4443/"),
    fp: get("fp", ""),
    name: get("name", "screen"),
    h264: get("h264", ""),
    offsetNs: BigInt(get("offset", "0")),
    latency: Number(get("latency", 100)),
    report: get("report", ""),
    page: get("page", ""),
  };
}

/** Milliseconds from a stamp's capture to now, on the page's clock. */
function ageMs(captureNs, offsetNs) {
  const unixNs = captureNs - offsetNs;
  return performance.timeOrigin + performance.now() - Number(unixNs) / 1e6;
}

/** A window of recent samples, for the live figures. */
class Recent {
  constructor(ms = 5000) {
    this.ms = ms;
    this.items = [];
  }
  add(value, at = performance.now()) {
    this.items.push([at, value]);
    while (this.items.length && this.items[0][0] < at - this.ms) this.items.shift();
  }
  values() {
    const cut = performance.now() - this.ms;
    return this.items.filter(([t]) => t >= cut).map(([, v]) => v);
  }
  quantile(q) {
    const v = this.values().sort((a, b) => a - b);
    return v.length ? v[Math.min(v.length - 1, Math.floor(q * v.length))] : NaN;
  }
  sum() {
    return this.values().reduce((a, b) => a + b, 0);
  }
  rate() {
    return (this.values().length * 1000) / this.ms;
  }
}

/** What goes to `report`: drained at each send. */
const outbox = { delta: [], h264: [], lat: [], h264lat: [], errors: [] };
function fail(what, e) {
  const text = `${what}: ${e?.message ?? e}`;
  console.error(text);
  outbox.errors.push(text);
  $("errors").textContent = outbox.errors.slice(-5).join("\n");
}

/** Receives every group of `track` in any order; hands `onObject` each object. */
async function everyGroup(track, onGroup) {
  for (;;) {
    const group = await track.recvGroup();
    if (!group) return;
    onGroup(group);
  }
}

/** The changes-only track: join from the relay's snapshot, then live. */
class DeltaPlayer {
  constructor(sk, broadcast, cfg, opened) {
    this.sk = sk;
    this.cfg = cfg;
    this.broadcast = broadcast;
    this.catalog = null; // once read
    this.view = null; // made with the catalog's cache_tiles
    this.opened = opened;
    this.ctx = $("delta").getContext("2d");
    this.held = new Map(); // sequence -> { bytes, at }
    this.next = null; // the next sequence to decode, once joined
    this.busy = false; // a join or a repair is fetching
    this.decodeMs = new Recent();
    this.latency = new Recent();
    this.bits = new Recent(1000);
    this.painted = new Recent(1000);
    this.counts = { frames: 0, refused: 0, lost: 0, repaired: 0, fetched: 0 };
    this.firstMs = null; // the snapshot shown: exact, of frame S
    this.joinMs = null; // caught up: the newest frame, whole
    this.check = cfg.report !== "";
  }

  /**
   * Subscribes to the frames and snapshot tracks at once, under the names
   * moq.md gives, while the catalog (a promise) is still on its way, as
   * moqsrc does: that saves a round trip. A catalog naming other tracks
   * makes the join subscribe again under those.
   */
  start(catalog) {
    this.follow("frames");
    const snapshot = this.broadcast.subscribe("snapshot");
    this.join(snapshot, catalog).catch((e) => fail("join", e));
    setInterval(() => this.tick(), 20);
  }

  follow(name) {
    this.framesTrack = this.broadcast.subscribe(name, { latencyMax: 2000 });
    everyGroup(this.framesTrack, (g) => this.readGroup(g)).catch((e) => fail("frames", e));
  }

  async readGroup(group) {
    const frame = await group.readFrame();
    group.close();
    if (!frame) return;
    this.bits.add(frame.payload.length * 8);
    const seq = group.sequence;
    if (this.next !== null && seq < this.next) return; // late or repeated
    if (!this.held.has(seq)) this.held.set(seq, { bytes: frame.payload, at: performance.now() });
    this.drain();
  }

  async fetchFrame(seq) {
    const group = await this.broadcast.fetchGroup(this.catalog.frames_track, seq);
    const frame = await group.readFrame();
    group.close();
    if (!frame) throw new Error(`frame ${seq}: empty group`);
    this.counts.fetched++;
    return frame.payload;
  }

  /**
   * moq.md, "Joining and repair": the latest snapshot S, then the frames
   * S+1..T from what arrived live and, for the rest, from the relay's
   * cache. A snapshot whose frames cannot all be had is no exact picture:
   * try again with the next one 200 ms later, as moqsrc does.
   */
  async join(snapshotTrack, catalog) {
    this.busy = true;
    this.catalog = await catalog;
    this.view = this.sk.view({ cacheTiles: this.catalog.cache_tiles ?? 0 });
    if (this.catalog.frames_track !== "frames") {
      this.framesTrack.close();
      this.held.clear();
      this.follow(this.catalog.frames_track);
    }
    if (this.catalog.snapshot_track !== "snapshot") {
      snapshotTrack.close();
      snapshotTrack = this.broadcast.subscribe(this.catalog.snapshot_track);
    }
    for (let track = snapshotTrack; ; track = this.broadcast.subscribe(this.catalog.snapshot_track)) {
      try {
        await this.joinFrom(track);
        break;
      } catch (e) {
        track.close();
        this.counts.joinFailures = (this.counts.joinFailures ?? 0) + 1;
        console.warn(`join: ${e?.message ?? e}; trying the next snapshot`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    this.busy = false;
    this.drain();
  }

  async joinFrom(snapshotTrack) {
    const group = await snapshotTrack.recvGroup();
    if (!group) throw new Error("the snapshot track ended");
    const s = group.sequence;
    // S is known as soon as its group opens: fetch the frames since while
    // the snapshot itself is still arriving (moq.md, step 5).
    const since = this.framesSince(s);
    since.catch(() => {}); // awaited below, after the snapshot
    const object = await group.readFrame();
    group.close();
    snapshotTrack.close();
    if (!object) throw new Error(`snapshot ${s}: empty group`);
    // The snapshot alone is an exact picture of frame S: show it at once,
    // then catch up to the newest frame.
    if (!this.apply(object.payload, false)) throw new Error(`snapshot ${s} refused`);
    if (this.firstMs === null) this.firstMs = performance.now() - this.opened;
    const { t, fetched } = await since;
    for (let q = s + 1; q <= t; q++) this.apply(fetched.get(q) ?? this.held.get(q).bytes, q === t);
    for (const q of [...this.held.keys()]) if (q <= t) this.held.delete(q);
    this.next = t + 1;
    if (this.joinMs === null && this.view.whole) this.joinMs = performance.now() - this.opened;
  }

  /** Once a live frame is held: T, the newest, and the frames S+1..T that
   * did not arrive live, fetched from the relay, all at once. */
  async framesSince(s) {
    while (this.held.size === 0) await new Promise((r) => setTimeout(r, 2));
    const t = Math.max(s, ...this.held.keys());
    const wanted = [];
    for (let q = s + 1; q <= t; q++) if (!this.held.has(q)) wanted.push(q);
    const fetched = new Map(await Promise.all(wanted.map(async (q) => [q, await this.fetchFrame(q)])));
    return { t, fetched };
  }

  /** Decodes in order what can be; a gap waits `latency`, then is fetched. */
  drain() {
    if (this.next === null || this.busy) return;
    while (this.held.has(this.next)) {
      const { bytes } = this.held.get(this.next);
      this.held.delete(this.next);
      this.apply(bytes);
      this.next++;
    }
  }

  tick() {
    if (this.next === null || this.busy || this.held.size === 0) return;
    const oldest = Math.min(...[...this.held.values()].map((h) => h.at));
    if (performance.now() - oldest < this.cfg.latency) return;
    // The frames before the first held one never came: ask the relay.
    const first = Math.min(...this.held.keys());
    const missing = [];
    for (let q = this.next; q < first; q++) missing.push(q);
    this.busy = true;
    Promise.all(missing.map((q) => this.fetchFrame(q)))
      .then((frames) => {
        frames.forEach((bytes) => this.apply(bytes));
        this.counts.repaired += missing.length;
      })
      .catch(() => {
        // Gone from the relay too: go on without them; intra refresh or
        // the next join rewrites the tiles they changed.
        this.counts.lost += missing.length;
        this.view.noteLoss();
      })
      .finally(() => {
        this.next = Math.max(this.next, first);
        this.busy = false;
        this.drain();
      });
  }

  /** Decodes one object and paints what it changed; `live`: it came in
   * time, not as part of a join's catch-up (whose frames are old by
   * design), so its latency counts. */
  apply(bytes, live = true) {
    const t0 = performance.now();
    const ok = this.view.decodeObject(bytes, t0);
    const painted = ok ? this.view.paint(this.ctx) : 0;
    this.decodeMs.add(performance.now() - t0);
    if (!ok) {
      this.counts.refused++;
      fail("changes-only object refused", this.view.error);
      return false;
    }
    this.counts.frames++;
    if (painted) this.painted.add(1);
    const stamp = this.view.stamp();
    if (stamp && live) {
      const age = ageMs(stamp.captureNs, this.cfg.offsetNs);
      this.latency.add(age);
      outbox.lat.push(age.toFixed(2));
    }
    if (this.check && stamp) {
      outbox.delta.push(`${stamp.frame}:${this.view.checksum.toString(16)}`);
    }
    return true;
  }

  show() {
    const kbit = this.bits.sum() / 1000;
    $("delta-stats").textContent =
      `${this.painted.rate().toFixed(1)} fps painted · ${kbit.toFixed(0)} kbit/s · ` +
      `latency p50 ${this.latency.quantile(0.5).toFixed(1)} ms, p95 ${this.latency.quantile(0.95).toFixed(1)} ms · ` +
      `decode p50 ${this.decodeMs.quantile(0.5).toFixed(2)} ms · ` +
      `joined: snapshot ${this.firstMs === null ? "…" : this.firstMs.toFixed(0) + " ms"}, ` +
      `caught up ${this.joinMs === null ? "…" : this.joinMs.toFixed(0) + " ms"} · ` +
      `frames ${this.counts.frames}, fetched ${this.counts.fetched}, lost ${this.counts.lost}, refused ${this.counts.refused}`;
  }
}

/** The profile and level of the first SPS in an Annex B access unit. */
function avcCodec(au) {
  for (let i = 0; i + 7 < au.length; i++) {
    if (au[i] === 0 && au[i + 1] === 0 && au[i + 2] === 1 && (au[i + 3] & 0x1f) === 7) {
      const hex = (b) => b.toString(16).padStart(2, "0");
      return `avc1.${hex(au[i + 4])}${hex(au[i + 5])}${hex(au[i + 6])}`;
    }
  }
  return null;
}

/** The H.264 track of the other broadcast, through WebCodecs. */
class H264Player {
  constructor(sk, broadcast, catalog, cfg) {
    this.sk = sk;
    this.cfg = cfg;
    this.broadcast = broadcast;
    this.catalog = catalog;
    this.canvas = $("h264");
    this.ctx = this.canvas.getContext("2d", { willReadFrequently: true });
    this.latency = new Recent();
    this.bits = new Recent(1000);
    this.painted = new Recent(1000);
    this.current = -1;
    this.first = -1; // the group joined in: its frames are a catch-up
    this.frames = 0;
    this.decoder = new VideoDecoder({
      output: (frame) => this.paint(frame),
      error: (e) => fail("WebCodecs", e),
    });
  }

  start() {
    const frames = this.broadcast.subscribe(this.catalog.frames_track, { latencyMax: 2000 });
    everyGroup(frames, (g) => this.readGroup(g)).catch((e) => fail("h264 frames", e));
    setInterval(() => this.show(), 500);
  }

  async readGroup(group) {
    if (group.sequence < this.current) return group.close();
    this.current = group.sequence;
    if (this.first < 0) this.first = group.sequence;
    for (;;) {
      const frame = await group.readFrame();
      if (!frame || group.sequence !== this.current) break;
      this.bits.add(frame.payload.length * 8);
      const object = frame.payload;
      if (object.length <= 10 || object[0] !== 1) {
        fail("h264", "bad object header");
        continue;
      }
      const sync = (object[1] & 1) === 1;
      const au = object.subarray(10);
      if (this.decoder.state === "unconfigured") {
        const codec = sync ? avcCodec(au) : null;
        if (!codec) continue; // wait for a keyframe
        this.decoder.configure({ codec, optimizeForLatency: true });
      }
      // The chunk's timestamp says whether the picture is live (1) or part
      // of the catch-up through the group joined in (0), for paint().
      const live = group.sequence > this.first ? 1 : 0;
      this.decoder.decode(
        new EncodedVideoChunk({ type: sync ? "key" : "delta", timestamp: this.frames++ * 2 + live, data: au }),
      );
    }
    group.close();
  }

  paint(frame) {
    const live = frame.timestamp % 2 === 1;
    if (this.canvas.width !== frame.displayWidth) {
      this.canvas.width = frame.displayWidth;
      this.canvas.height = frame.displayHeight;
    }
    this.ctx.drawImage(frame, 0, 0);
    frame.close();
    this.painted.add(1);
    const stamp = this.sk.readStamp(this.ctx.getImageData(0, 0, Math.min(this.canvas.width, 288), Math.min(this.canvas.height, 160)));
    if (stamp) {
      outbox.h264.push(stamp.frame);
      if (live) {
        const age = ageMs(stamp.captureNs, this.cfg.offsetNs);
        this.latency.add(age);
        outbox.h264lat.push(age.toFixed(2));
      }
    }
  }

  show() {
    $("h264-stats").textContent =
      `${this.painted.rate().toFixed(1)} fps painted · ${(this.bits.sum() / 1000).toFixed(0)} kbit/s · ` +
      `latency p50 ${this.latency.quantile(0.5).toFixed(1)} ms, p95 ${this.latency.quantile(0.95).toFixed(1)} ms`;
  }
}

async function catalogOf(broadcast) {
  const track = broadcast.subscribe("catalog.json");
  const text = await track.readString();
  track.close();
  const c = JSON.parse(text);
  if (c.version !== 1 || typeof c.frames_track !== "string") throw new Error(`catalog: ${text}`);
  return c;
}

async function main() {
  const cfg = await settings();
  $("where").textContent = `${cfg.relay} · ${cfg.name}${cfg.h264 ? " and " + cfg.h264 : ""}`;
  const status = (text) => ($("where").textContent = `${cfg.relay} · ${cfg.name}: ${text}`);
  const sk = await Streamkit.load(fetch("streamkit.wasm"));
  status("connecting");
  const connection = await Moq.Connection.connect(new URL(cfg.relay), {
    webtransport: cfg.fp ? { serverCertificateHashes: [{ algorithm: "sha-256", value: cfg.fp }] } : {},
    websocket: { enabled: false },
  });
  const opened = performance.now();
  status(`connected (${connection.version}); reading the catalog`);
  const broadcast = connection.consume(Moq.Path.from(cfg.name));
  const catalogRead = catalogOf(broadcast).then((c) => {
    if (c.codec !== "delta") throw new Error(`${cfg.name} is ${c.codec}, not the changes-only stream`);
    return c;
  });
  const delta = new DeltaPlayer(sk, broadcast, cfg, opened);
  delta.start(catalogRead);
  const catalog = await catalogRead;
  status(`watching (${connection.version}, ${catalog.width}x${catalog.height})`);
  let h264 = null;
  if (cfg.h264) {
    const other = connection.consume(Moq.Path.from(cfg.h264));
    const c = await catalogOf(other);
    if (c.codec !== "h264") throw new Error(`${cfg.h264} is ${c.codec}, not H.264`);
    h264 = new H264Player(sk, other, c, cfg);
    h264.start();
  }
  setInterval(() => delta.show(), 500);
  if (cfg.report) {
    setInterval(() => {
      const q = new URLSearchParams({
        page: cfg.page,
        frames: delta.counts.frames,
        fetched: delta.counts.fetched,
        lost: delta.counts.lost,
        refused: delta.counts.refused,
        join: delta.joinMs === null ? "" : delta.joinMs.toFixed(1),
        first: delta.firstMs === null ? "" : delta.firstMs.toFixed(1),
        decode: delta.decodeMs.quantile(0.5).toFixed(3),
        decode95: delta.decodeMs.quantile(0.95).toFixed(3),
        heap: performance.memory ? performance.memory.usedJSHeapSize : "",
        wasm: sk.x.memory.buffer.byteLength,
        h264frames: h264 ? h264.frames : "",
        delta: outbox.delta.splice(0).join(","),
        lat: outbox.lat.splice(0).join(","),
        h264lat: outbox.h264lat.splice(0).join(","),
        h264stamps: outbox.h264.splice(0).join(","),
        err: outbox.errors.splice(0).join(" | "),
      });
      fetch(`${cfg.report}?${q}`, { cache: "no-store" }).catch(() => {});
    }, 500);
  }
}

main().catch((e) => fail("viewer", e));
