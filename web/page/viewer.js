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
//   behind    ms the page may fall behind the pace the frames were
//             captured at before it drops what is queued and joins again
//             from the relay's latest snapshot (1000; 0: never)
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
    behind: Number(get("behind", 1000)),
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

/** An object's pts in milliseconds (moq.md, "Objects"), or null for none. */
function ptsMs(object) {
  if (object.length < 10) return null;
  const pts = new DataView(object.buffer, object.byteOffset + 2, 8).getBigUint64(0);
  return pts === 0xffffffffffffffffn ? null : Number(pts) / 1e6;
}

/** Milliseconds since `t0` (a `performance.now()`), for the join phases. */
const sinceMs = (t0) => (performance.now() - t0).toFixed(1);

/** What goes to `report`: drained at each send. */
const outbox = { delta: [], h264: [], lat: [], h264lat: [], joins: [], errors: [] };
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
    this.view = null; // a fresh one at each join, with the catalog's cache_tiles
    this.opened = opened;
    this.ctx = $("delta").getContext("2d");
    this.held = new Map(); // sequence -> { bytes, at }
    this.next = null; // the next sequence to decode, once joined
    this.busy = false; // a join or a repair is fetching
    this.decodeMs = new Recent();
    this.latency = new Recent();
    this.bits = new Recent(1000);
    this.painted = new Recent(1000);
    this.counts = { frames: 0, refused: 0, lost: 0, repaired: 0, fetched: 0, rejoins: 0 };
    this.firstMs = null; // the snapshot shown: exact, of frame S
    this.joinMs = null; // caught up: the newest frame, whole
    this.pace = null; // { base, last }: arrival minus pts, the least seen; the last pts
    this.behindMs = 0; // how far the last live frame was behind that pace
    this.dirty = []; // rectangles decoded but not painted yet
    this.floor = null; // while joining: S, the frame the snapshot shows
    this.lastJoin = -Infinity; // when the last join finished
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

  /** Subscribes to the frames track; from `startGroup` on, if given. */
  follow(name, startGroup) {
    this.framesTrack?.close();
    const track = this.broadcast.subscribe(name, { latencyMax: 2000, startGroup });
    this.framesTrack = track;
    everyGroup(track, (g) => (track === this.framesTrack ? this.readGroup(g) : g.close())).catch((e) =>
      fail("frames", e),
    );
  }

  async readGroup(group) {
    const frame = await group.readFrame();
    group.close();
    if (!frame) return;
    this.bits.add(frame.payload.length * 8);
    const seq = group.sequence;
    if (this.next !== null && seq < this.next) return; // late or repeated
    if (this.floor !== null && seq <= this.floor) return; // in the snapshot being joined from
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

  /** The first join, once the catalog is read. */
  async join(snapshotTrack, catalog) {
    this.busy = true;
    this.catalog = await catalog;
    if (this.catalog.frames_track !== "frames") {
      this.framesTrack.close();
      this.held.clear();
      this.follow(this.catalog.frames_track);
    }
    if (this.catalog.snapshot_track !== "snapshot") {
      snapshotTrack.close();
      snapshotTrack = this.broadcast.subscribe(this.catalog.snapshot_track);
    }
    await this.joinLoop(snapshotTrack, "join", this.opened);
  }

  /**
   * Drops what is queued and joins again from the relay's latest snapshot:
   * when the page has fallen `behind` (it could not decode as fast as the
   * frames came), or a repair could not get a missing frame (the picture
   * is no longer exact), as moqsrc falls back to the snapshot.
   */
  rejoin(why, { behind = false } = {}) {
    if (this.busy || this.next === null) return;
    // Joining again for being behind costs a snapshot and its catch-up:
    // not more often than every two `behind` (and at least 2 s), so that
    // a page that cannot keep up even so is not joining all the time.
    if (behind && performance.now() - this.lastJoin < Math.max(2000, 2 * this.cfg.behind)) return;
    this.counts.rejoins++;
    console.info(`rejoining from the latest snapshot: ${why}`);
    this.busy = true;
    this.next = null;
    this.held.clear();
    this.behindMs = 0; // the pace's base is kept: it is the sender's, not this join's
    const track = this.broadcast.subscribe(this.catalog.snapshot_track);
    this.joinLoop(track, why, performance.now()).catch((e) => fail("rejoin", e));
  }

  /**
   * moq.md, "Joining and repair": the latest snapshot S, then the frames
   * S+1..T from what arrived live and, for the rest, from the relay's
   * cache. A snapshot whose frames cannot all be had is no exact picture:
   * try again with the next one 200 ms later, as moqsrc does.
   */
  async joinLoop(track, why, since) {
    for (; ; track = this.broadcast.subscribe(this.catalog.snapshot_track)) {
      try {
        await this.joinFrom(track, why, since);
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

  async joinFrom(snapshotTrack, why, since) {
    const phases = { why };
    const group = await snapshotTrack.recvGroup();
    if (!group) throw new Error("the snapshot track ended");
    phases.group = sinceMs(since);
    const s = group.sequence;
    this.floor = s;
    for (const q of [...this.held.keys()]) if (q <= s) this.held.delete(q);
    if (why !== "join") {
      // Joining again: what the live subscription still has queued for
      // this page is older than the snapshot, so ask the relay for the
      // frames after it only, on a subscription from S+1.
      this.follow(this.catalog.frames_track, s + 1);
    }
    // S is known as soon as its group opens: fetch the frames since while
    // the snapshot itself is still arriving (moq.md, step 5).
    const frames = this.framesSince(s, phases, since);
    frames.catch(() => {}); // awaited below, after the snapshot
    const object = await group.readFrame();
    group.close();
    snapshotTrack.close();
    if (!object) throw new Error(`snapshot ${s}: empty group`);
    phases.snapshot = sinceMs(since);
    // The snapshot alone is an exact picture of frame S: show it at once,
    // in a fresh decoder (a snapshot carries the tile cache too), then
    // catch up to the newest frame.
    this.view?.free();
    this.view = this.sk.view({ cacheTiles: this.catalog.cache_tiles ?? 0 });
    phases.view = sinceMs(since);
    if (!this.apply(object.payload, { live: false, paint: false })) throw new Error(`snapshot ${s} refused`);
    phases.decoded = sinceMs(since);
    this.paintWhole();
    phases.shown = sinceMs(since);
    if (this.firstMs === null) this.firstMs = performance.now() - this.opened;
    const { t, fetched } = await frames;
    phases.fetched = sinceMs(since);
    phases.frames = t - s;
    // The frames since are old by design: decode them without painting
    // each, and paint the newest picture whole.
    let newest = object.payload;
    for (let q = s + 1; q <= t; q++) {
      newest = fetched.get(q) ?? this.held.get(q).bytes;
      if (!this.apply(newest, { live: false, paint: false })) throw new Error(`frame ${q} refused`);
    }
    if (t > s) this.paintWhole();
    for (const q of [...this.held.keys()]) if (q <= t) this.held.delete(q);
    this.next = t + 1;
    this.floor = null;
    this.lastJoin = performance.now();
    // The newest frame the relay had is as close to live as this page
    // can be now: measure falling behind from there.
    const pts = ptsMs(newest);
    if (pts !== null && this.pace) this.pace.base = Math.max(this.pace.base, this.lastJoin - pts);
    phases.whole = sinceMs(since);
    // how old the newest frame was when shown (with the sender's clock offset)
    const stamp = this.view.stamp();
    if (stamp) phases.age = ageMs(stamp.captureNs, this.cfg.offsetNs).toFixed(0);
    if (this.joinMs === null && this.view.whole) this.joinMs = performance.now() - this.opened;
    outbox.joins.push(Object.entries(phases).map(([k, v]) => `${k}=${v}`).join(";"));
  }

  /** Once a live frame is held: T, the newest, and the frames S+1..T that
   * did not arrive live, fetched from the relay, all at once. */
  async framesSince(s, phases, since) {
    while (this.held.size === 0) await new Promise((r) => setTimeout(r, 2));
    phases.live = sinceMs(since);
    const t = Math.max(s, ...this.held.keys());
    const wanted = [];
    for (let q = s + 1; q <= t; q++) if (!this.held.has(q)) wanted.push(q);
    phases.asked = wanted.length;
    const fetched = new Map(
      await Promise.all(
        wanted.map(async (q) => {
          const bytes = await this.fetchFrame(q);
          phases.first ??= sinceMs(since);
          return [q, bytes];
        }),
      ),
    );
    return { t, fetched };
  }

  /** Decodes in order what can be; a gap waits `latency`, then is fetched. */
  drain() {
    if (this.next === null || this.busy) return;
    // Frames that are ready together (a burst after a late one, or a page
    // that is behind) are all decoded, and only the newest is painted.
    const ready = [];
    while (this.held.has(this.next)) {
      ready.push(this.held.get(this.next).bytes);
      this.held.delete(this.next);
      this.next++;
    }
    ready.forEach((bytes, i) => this.apply(bytes, { paint: i === ready.length - 1 }));
    if (this.cfg.behind > 0 && this.behindMs > this.cfg.behind) {
      this.rejoin(`${this.behindMs.toFixed(0)} ms behind`, { behind: true });
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
    let exact = true;
    Promise.all(missing.map((q) => this.fetchFrame(q)))
      .then((frames) => {
        frames.forEach((bytes) => this.apply(bytes));
        this.counts.repaired += missing.length;
      })
      .catch(() => {
        // Gone from the relay too: the picture would not be exact after
        // the frames that follow, so join again from the latest snapshot.
        this.counts.lost += missing.length;
        this.view.noteLoss(); // inexact until the join below replaces it
        exact = false;
      })
      .finally(() => {
        this.next = Math.max(this.next, first);
        this.busy = false;
        if (exact) this.drain();
        else this.rejoin(`frames ${missing[0]}..${first - 1} gone from the relay`);
      });
  }

  /**
   * Decodes one object and, unless `paint` is false, paints what it
   * changed; `live`: it came in time, not as part of a join's catch-up
   * (whose frames are old by design), so its latency counts.
   */
  apply(bytes, { live = true, paint = true } = {}) {
    const t0 = performance.now();
    const ok = this.view.decodeObject(bytes, t0);
    let painted = 0;
    if (ok && paint) {
      painted = this.view.paint(this.ctx, this.dirty.concat(this.view.rects));
      this.dirty = [];
    } else if (ok) {
      this.dirty.push(...this.view.rects); // painted with the next picture
    }
    this.decodeMs.add(performance.now() - t0);
    if (!ok) {
      this.counts.refused++;
      fail("changes-only object refused", this.view.error);
      return false;
    }
    this.counts.frames++;
    if (painted) this.painted.add(1);
    if (live) this.keepPace(bytes, t0);
    if (!paint) return true;
    const stamp = this.view.stamp();
    if (stamp && live) {
      const age = ageMs(stamp.captureNs, this.cfg.offsetNs);
      this.latency.add(age);
      outbox.lat.push(age.toFixed(2));
    }
    this.reportPicture(stamp);
    return true;
  }

  /** For the tests' collector: the frame just painted and its checksum. */
  reportPicture(stamp) {
    if (this.check && stamp) outbox.delta.push(`${stamp.frame}:${this.view.checksum.toString(16)}`);
  }

  /** Puts the whole picture into the canvas (after a catch-up). */
  paintWhole() {
    this.view.paintWhole(this.ctx);
    this.dirty = [];
    this.painted.add(1);
    this.reportPicture(this.view.stamp());
  }

  /**
   * How far behind the pace of capture the page is, from the objects' pts
   * alone (no clock shared with the sender needed): the time a frame is
   * decoded minus its pts, against the least such difference seen. A pts
   * going backwards (the sender started again) starts the measure afresh.
   */
  keepPace(bytes, now) {
    const pts = ptsMs(bytes);
    if (pts === null) return;
    const lag = now - pts;
    if (this.pace === null || pts < this.pace.last) this.pace = { base: lag, last: pts };
    this.pace.base = Math.min(this.pace.base, lag);
    this.pace.last = pts;
    this.behindMs = lag - this.pace.base;
  }

  show() {
    const kbit = this.bits.sum() / 1000;
    $("delta-stats").textContent =
      `${this.painted.rate().toFixed(1)} fps painted · ${kbit.toFixed(0)} kbit/s · ` +
      `latency p50 ${this.latency.quantile(0.5).toFixed(1)} ms, p95 ${this.latency.quantile(0.95).toFixed(1)} ms · ` +
      `decode p50 ${this.decodeMs.quantile(0.5).toFixed(2)} ms · ` +
      `joined: snapshot ${this.firstMs === null ? "…" : this.firstMs.toFixed(0) + " ms"}, ` +
      `caught up ${this.joinMs === null ? "…" : this.joinMs.toFixed(0) + " ms"} · ` +
      `frames ${this.counts.frames}, fetched ${this.counts.fetched}, lost ${this.counts.lost}, ` +
      `refused ${this.counts.refused}, joined again ${this.counts.rejoins}`;
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
  const warmObject = fetch("warm.obj")
    .then((r) => (r.ok ? r.arrayBuffer() : null))
    .catch(() => null);
  const sk = await Streamkit.load(fetch("streamkit.wasm"));
  status("connecting");
  const connectAt = performance.now();
  const connecting = Moq.Connection.connect(new URL(cfg.relay), {
    webtransport: cfg.fp ? { serverCertificateHashes: [{ algorithm: "sha-256", value: cfg.fp }] } : {},
    websocket: { enabled: false },
  });
  // While the handshake is under way (in the browser's network process),
  // run the decoder once, so the join's first picture does not pay for
  // compiling and optimising it.
  const warm = await warmObject;
  const warmMs = warm ? sk.warmUp(new Uint8Array(warm)) : null;
  const connection = await connecting;
  const opened = performance.now();
  const startup = {
    warm: warmMs === null ? "" : warmMs.toFixed(1),
    connect: (opened - connectAt).toFixed(1),
    // page load (navigation start) to the session open
    load: opened.toFixed(1),
  };
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
        repaired: delta.counts.repaired,
        refused: delta.counts.refused,
        ...startup,
        rejoins: delta.counts.rejoins,
        behind: delta.behindMs.toFixed(1),
        joins: outbox.joins.splice(0).join(","),
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
