// SPDX-License-Identifier: MPL-2.0
// The JavaScript side of Streamkit's WebAssembly module (web/src/lib.rs):
// the whole binding, by hand, over the module's plain exported functions.
// The same file loads in a page and in Node.js (web/tests/feed.mjs).

/** The module, instantiated once; views share it. */
export class Streamkit {
  /** @param {BufferSource | Response | Promise<Response>} source the .wasm bytes or a fetch of them */
  static async load(source) {
    let bytes = await source;
    // A Response: read it whole (instantiateStreaming would also need the
    // server to say application/wasm, which not every static server does).
    if (typeof Response !== "undefined" && bytes instanceof Response) {
      if (!bytes.ok) throw new Error(`streamkit: ${bytes.url}: HTTP ${bytes.status}`);
      bytes = await bytes.arrayBuffer();
    }
    const { instance } = await WebAssembly.instantiate(bytes, {});
    return new Streamkit(instance.exports);
  }

  constructor(exports) {
    this.x = exports;
    this.scratch = 0;
    this.scratchLen = 0;
    this.out = 0;
  }

  /** The module's memory as bytes (made anew: growth detaches old views). */
  bytes(ptr, len) {
    return new Uint8Array(this.x.memory.buffer, ptr, len);
  }

  /**
   * Reads the stamp framestamp drew from an RGBA picture (an ImageData, or
   * { data, width, height }): { frame, captureNs (BigInt) }, or null.
   */
  readStamp(image) {
    const x = this.x;
    const len = image.data.length;
    if (len > this.scratchLen) {
      if (this.scratch) x.sk_free(this.scratch, this.scratchLen);
      this.scratchLen = Math.max(len, 1 << 16);
      this.scratch = x.sk_alloc(this.scratchLen);
      this.out = this.out || x.sk_alloc(16);
    }
    this.bytes(this.scratch, len).set(image.data);
    if (x.sk_read_stamp_rgba(this.scratch, len, image.width, image.height, this.out) !== 1) return null;
    const out = new BigUint64Array(x.memory.buffer, this.out, 2);
    return { frame: Number(out[0]), captureNs: out[1] };
  }

  /**
   * A decoder and its picture. Limits as deltadec's and moqsrc's
   * properties: maxWidth, maxHeight (4096 x 2304), maxObjectBytes (64 MiB),
   * cacheTiles (the catalog's cache_tiles, 0).
   */
  view(options = {}) {
    return new View(this, options);
  }

  /**
   * Decodes `object` (a changes-only keyframe object, scripts/web.sh
   * writes one as warm.obj) `times` times into throwaway views, so that
   * the browser has compiled and optimised the decoder's code before the
   * first real picture needs it. Returns the milliseconds it took.
   */
  warmUp(object, times = 1) {
    const t0 = performance.now();
    for (let i = 0; i < times; i++) {
      const view = this.view();
      if (view.decodeObject(object, 0)) {
        void view.rgba;
        void view.checksum;
        view.stamp();
      }
      view.free();
    }
    return performance.now() - t0;
  }
}

const OUTCOME_FIELDS = 7;
const STATS = [
  "frames",
  "keyframes",
  "tilesApplied",
  "recordsDropped",
  "framesRejected",
  "framesOversized",
  "geometryChangesThrottled",
  "geometryChanges",
  "bytes",
  "tilesRecalled",
  "recallMisses",
];
const decoder = new TextDecoder();

export class View {
  constructor(sk, { maxWidth = 4096, maxHeight = 2304, maxObjectBytes = 64 << 20, cacheTiles = 0 } = {}) {
    this.sk = sk;
    this.h = sk.x.sk_view_new(maxWidth, maxHeight, maxObjectBytes, cacheTiles);
    if (this.h === 0) {
      throw new RangeError(`streamkit: limits out of range: ${maxWidth}x${maxHeight}, ${maxObjectBytes} bytes`);
    }
    this.input = 0;
    this.inputLen = 0;
  }

  /** Copies `data` into the module; returns its address there. */
  #put(data) {
    const x = this.sk.x;
    if (data.length > this.inputLen) {
      if (this.input) x.sk_free(this.input, this.inputLen);
      this.inputLen = Math.max(data.length, 64 * 1024);
      this.input = x.sk_alloc(this.inputLen);
      if (this.input === 0) {
        this.inputLen = 0;
        throw new RangeError(`streamkit: no memory for ${data.length} bytes`);
      }
    }
    this.sk.bytes(this.input, data.length).set(data);
    return this.input;
  }

  /** One MoQ object of the frames or snapshot track: true when applied. */
  decodeObject(data, nowMs) {
    return this.sk.x.sk_view_decode_object(this.h, this.#put(data), data.length, nowMs) === 1;
  }

  /** One changes-only frame without an object header: true when applied. */
  decode(data, nowMs) {
    return this.sk.x.sk_view_decode(this.h, this.#put(data), data.length, nowMs) === 1;
  }

  /** Frames were lost: every tile is suspect until rewritten. */
  noteLoss() {
    this.sk.x.sk_view_note_loss(this.h);
  }

  /** What the last decode did. */
  get outcome() {
    const o = new Uint32Array(this.sk.x.memory.buffer, this.sk.x.sk_view_outcome(this.h), OUTCOME_FIELDS);
    return {
      accepted: o[0] === 1,
      keyframe: o[1] === 1,
      frameNumber: o[2],
      tilesApplied: o[3],
      recordsDropped: o[4],
      recallMisses: o[5],
      geometryChanged: o[6] === 1,
    };
  }

  /** The last call's first problem, in the native decoder's words, or null. */
  get error() {
    const len = this.sk.x.sk_view_error_len(this.h);
    return len === 0 ? null : decoder.decode(this.sk.bytes(this.sk.x.sk_view_error_ptr(this.h), len));
  }

  get width() {
    return this.sk.x.sk_view_width(this.h);
  }

  get height() {
    return this.sk.x.sk_view_height(this.h);
  }

  /** Every tile has arrived and none is suspect. */
  get whole() {
    return this.sk.x.sk_view_whole(this.h) === 1;
  }

  /** The picture as RGBA (a view into the module: use before the next call). */
  get rgba() {
    const len = this.width * this.height * 4;
    return new Uint8ClampedArray(this.sk.x.memory.buffer, this.sk.x.sk_view_rgba(this.h), len);
  }

  /** The last frame's changed rectangles, [x, y, width, height] each. */
  get rects() {
    const n = this.sk.x.sk_view_rect_count(this.h);
    const r = new Uint32Array(this.sk.x.memory.buffer, this.sk.x.sk_view_rects(this.h), n * 4);
    const out = [];
    for (let i = 0; i < n; i++) out.push([r[4 * i], r[4 * i + 1], r[4 * i + 2], r[4 * i + 3]]);
    return out;
  }

  /** XXH3-64 of the decoded picture, as a BigInt (0n before the first picture). */
  get checksum() {
    return BigInt.asUintN(64, this.sk.x.sk_view_checksum(this.h));
  }

  /** The stamp in the picture: { frame, captureNs (BigInt) }, or null. */
  stamp() {
    if (this.sk.x.sk_view_stamp(this.h) !== 1) return null;
    return {
      frame: this.sk.x.sk_view_stamp_frame(this.h),
      captureNs: BigInt.asUintN(64, this.sk.x.sk_view_stamp_time(this.h)),
    };
  }

  /** The decoder's counters (deltadec's stats), as Numbers. */
  get stats() {
    const s = new BigUint64Array(this.sk.x.memory.buffer, this.sk.x.sk_view_stats(this.h), STATS.length);
    return Object.fromEntries(STATS.map((name, i) => [name, Number(s[i])]));
  }

  /**
   * Paints what the last frame changed (or the rectangles `rects`, say
   * those of several frames decoded since the last paint) into a 2-D
   * canvas context; returns how many rectangles it painted.
   */
  paint(ctx, rects = this.rects) {
    if (!this.#fit(ctx)) return 0;
    if (rects.length === 0) return 0;
    const image = new ImageData(this.rgba, this.width, this.height);
    for (const [x, y, w, h] of rects) ctx.putImageData(image, 0, 0, x, y, w, h);
    return rects.length;
  }

  /** Paints the whole picture (after frames decoded without painting). */
  paintWhole(ctx) {
    if (!this.#fit(ctx)) return;
    ctx.putImageData(new ImageData(this.rgba, this.width, this.height), 0, 0);
  }

  /** Sizes the canvas to the picture; false before the first picture. */
  #fit(ctx) {
    if (this.width === 0) return false;
    if (ctx.canvas.width !== this.width || ctx.canvas.height !== this.height) {
      ctx.canvas.width = this.width;
      ctx.canvas.height = this.height;
    }
    return true;
  }

  free() {
    if (this.input) this.sk.x.sk_free(this.input, this.inputLen);
    this.sk.x.sk_view_free(this.h);
    this.h = 0;
    this.input = 0;
  }
}
