#!/usr/bin/python3
# SPDX-License-Identifier: MPL-2.0
"""embed.py: an application that embeds the streamkit elements (Python).

It draws its own pictures (a desktop with a window, a growing progress bar
and a moving icon: each frame changes only in places) and sends them

  appsrc ! framestamp ! deltaenc ! rtpdeltapay ! udpsink host=127.0.0.1

to itself, receiving them in the same process with

  udpsrc ! rtpdeltadepay ! deltadec ! framemeter ! appsink

where it checks each received picture against the one it drew. Half-way it
raises deltaenc's key-int-max while playing and shows the effect in the
encoder's and decoder's stats; it prints framemeter's messages as they come,
every element's stats at the end, and a last line `result: key=value ...`
for scripts. examples/embed/ is the same app in Rust.

GStreamer finds the streamkit plugin on GST_PLUGIN_PATH: build it with
`cargo build -p gst-plugin-streamkit` and run
`GST_PLUGIN_PATH=target/debug examples/embed.py` (or, after
`meson compile -C _build`, GST_PLUGIN_PATH=_build). It needs Debian's
python3-gi, gir1.2-gstreamer-1.0 and gir1.2-gst-plugins-base-1.0
(scripts/deps.sh installs them) and so Debian's /usr/bin/python3.

Exit status: 0 when every picture received is one the app drew, at least one
arrived and the property change shows in the stats (when key-int-max pictures
or more follow it); 1 on a GStreamer error, missing elements or the time-out;
2 on bad options; 3 when a check failed.
"""

import argparse
import sys
import threading
import time
import zlib

try:
    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstApp", "1.0")
    gi.require_version("GstVideo", "1.0")
    # GstApp gives the appsrc and appsink made below their methods.
    from gi.repository import GLib, Gst, GstApp, GstVideo  # noqa: F401
except (ImportError, ValueError) as e:
    sys.exit(
        f"embed.py: PyGObject with GStreamer's introspection data is missing ({e}): "
        "scripts/deps.sh installs python3-gi, gir1.2-gstreamer-1.0 and "
        "gir1.2-gst-plugins-base-1.0 for Debian's /usr/bin/python3"
    )

# Where framestamp draws its code (16 x 8 blocks) and framemeter reads it, in
# pixels. Set on both elements by the app, so that it knows which pixels are
# not its own: checksums leave them out.
STAMP_X, STAMP_Y, STAMP_BLOCK = 16, 32, 8
STAMP_COLUMNS, STAMP_ROWS = 16, 8

# BGRx colours, as their four bytes in memory.
DESKTOP = bytes([0x70, 0x50, 0x20, 0xFF])
PANEL = bytes([0x30, 0x30, 0x30, 0xFF])
WINDOW = bytes([0xEE, 0xEE, 0xEE, 0xFF])
TITLE_BAR = bytes([0x80, 0x30, 0x10, 0xFF])
PROGRESS = bytes([0x40, 0xB0, 0x40, 0xFF])
ICON = bytes([0x20, 0x80, 0xF0, 0xFF])

# The payload type, in the payloader's property and the receiver's caps.
PAYLOAD_TYPE = 96


# --- the app's own pictures ------------------------------------------------


def draw_picture(n, width, height):
    """Frame n of the scene in tightly packed BGRx: a window with a title bar,
    a progress bar growing by 7 pixels a frame and an icon sliding over it."""
    pixels = bytearray(width * height * 4)
    stride = width * 4

    def fill(x, y, w, h, colour):
        w = min(x + w, width) - x
        for row in range(y, min(y + h, height)):
            start = row * stride + x * 4
            pixels[start : start + w * 4] = colour * w

    fill(0, 0, width, height, DESKTOP)
    fill(0, 0, width, 24, PANEL)
    wx, wy, ww, wh = 64, 96, width - 128, height - 128
    fill(wx, wy, ww, wh, WINDOW)
    fill(wx, wy, ww, 24, TITLE_BAR)
    fill(wx + 16, wy + wh - 32, (n * 7) % (ww - 32) + 1, 16, PROGRESS)
    fill(wx + 16 + (n * 5) % (ww - 72), wy + 40 + (n * 3) % (wh - 112), 40, 40, ICON)
    return pixels


def checksum(data, stride, width, height):
    """CRC-32 of a BGRx picture's rows, leaving out the stamp's pixels."""
    left = min(STAMP_X, width) * 4
    right = min(STAMP_X + STAMP_COLUMNS * STAMP_BLOCK, width) * 4
    stamp_rows = range(STAMP_Y, STAMP_Y + STAMP_ROWS * STAMP_BLOCK)
    crc = 0
    for y in range(height):
        row = memoryview(data)[y * stride : y * stride + width * 4]
        if y in stamp_rows:
            crc = zlib.crc32(row[:left], crc)
            crc = zlib.crc32(row[right:], crc)
        else:
            crc = zlib.crc32(row, crc)
    return crc


# --- reading the elements' statistics --------------------------------------


def field_text(name, value):
    """A stats field as a person reads it: times in ms, bytes in kB."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, float):
        return f"{value * 100:.1f}%" if name.endswith("ratio") else f"{value:.2f}"
    if "latency" in name or "stall" in name:
        return f"{value / 1e6:.2f} ms"
    if name == "bytes":
        return f"{value} ({value / 1e3:.1f} kB)"
    return str(value)


def stats_block(title, stats):
    lines = [f"  {title} ({stats.get_name()}):"]
    for i in range(stats.n_fields()):
        name = stats.nth_field_name(i)
        lines.append(f"    {name:<28} {field_text(name, stats.get_value(name))}")
    return "\n".join(lines)


def stat(stats, name, default=0):
    return stats.get_value(name) if stats.has_field(name) else default


def encoder_line(stats):
    return (
        f"{stat(stats, 'frames')} frames encoded, keyframes {stat(stats, 'keyframes')}, "
        f"{stat(stats, 'changed-tile-ratio', 0.0) * 100:.1f}% of tiles changed, "
        f"{stat(stats, 'bytes') / 1e3:.1f} kB out"
    )


def meter_line(s):
    return (
        f"{stat(s, 'frames-new')} new frames in all ({stat(s, 'interval-frames')} in the "
        f"last interval, {stat(s, 'interval-fps', 0.0):.1f} fps), "
        f"{stat(s, 'frames-missing')} missing, "
        f"latency p50 {stat(s, 'interval-latency-p50') / 1e6:.1f} ms, "
        f"p95 {stat(s, 'interval-latency-p95') / 1e6:.1f} ms"
    )


# --- the pipelines, built element by element from their factories ----------


def make(factory, **properties):
    """The element `factory` makes, with `properties` (underscores for dashes)."""
    element = Gst.ElementFactory.make(factory, None)
    if element is None:
        raise RuntimeError(f"cannot make a {factory} (is its plugin installed?)")
    for name, value in properties.items():
        element.set_property(name.replace("_", "-"), value)
    return element


def chain(name, elements):
    pipeline = Gst.Pipeline.new(name)
    for element in elements:
        pipeline.add(element)
    for upstream, downstream in zip(elements, elements[1:]):
        if not upstream.link(downstream):
            raise RuntimeError(
                f"{name}: cannot link {upstream.get_name()} to {downstream.get_name()}"
            )
    return pipeline


class Sender:
    """appsrc ! framestamp ! deltaenc ! rtpdeltapay ! udpsink."""

    def __init__(self, args):
        caps = Gst.Caps.from_string(
            f"video/x-raw,format=BGRx,width={args.width},height={args.height},"
            f"framerate={args.fps}/1"
        )
        # A live source stamped with the clock as each picture is pushed:
        # the picture is "captured" when the app hands it over.
        self.appsrc = make(
            "appsrc", caps=caps, format=Gst.Format.TIME, is_live=True, do_timestamp=True
        )
        framestamp = make("framestamp", x=STAMP_X, y=STAMP_Y, block_size=STAMP_BLOCK)
        # Changes only: no keyframe after the first (key-int-max=0) until the
        # app asks for them while playing; intra refresh re-sends every tile
        # within 30 frames, so a receiver that missed a packet converges.
        self.encoder = make("deltaenc", tile_size=32, intra_refresh=30, key_int_max=0)
        self.payloader = make("rtpdeltapay", mtu=1200, pt=PAYLOAD_TYPE)
        # The live source paces the packets; syncing on the clock would only
        # hold each one back by the pipeline's latency.
        udpsink = make("udpsink", host="127.0.0.1", port=args.port, sync=False)
        self.pipeline = chain(
            "sender", [self.appsrc, framestamp, self.encoder, self.payloader, udpsink]
        )

    def encoder_stats(self):
        return self.encoder.get_property("stats")


class Receiver:
    """udpsrc ! rtpdeltadepay ! deltadec ! framemeter ! appsink, and what the
    app makes of the pictures that reach it."""

    def __init__(self, args, drawn):
        # What rtpdeltapay puts in its caps that a receiver must know before
        # the first packet (size and format travel in every packet).
        rtp_caps = Gst.Caps.from_string(
            "application/x-rtp,media=video,clock-rate=90000,"
            f"encoding-name=X-STREAMKIT-DELTA,payload={PAYLOAD_TYPE}"
        )
        udpsrc = make("udpsrc", address="127.0.0.1", port=args.port, caps=rtp_caps)
        self.depayloader = make("rtpdeltadepay")
        self.decoder = make("deltadec")
        # A 'framemeter' message every second of arrivals, and one at the end.
        self.meter = make(
            "framemeter", x=STAMP_X, y=STAMP_Y, block_size=STAMP_BLOCK, interval=Gst.SECOND
        )
        appsink = make("appsink", sync=False, emit_signals=True)
        appsink.connect("new-sample", self.on_new_sample)
        self.pipeline = chain(
            "receiver", [udpsrc, self.depayloader, self.decoder, self.meter, appsink]
        )
        self.drawn = drawn
        # Written by the streaming thread, read by the main loop.
        self.lock = threading.Lock()
        self.received = self.exact = self.other = 0
        self.last_matched = None
        self.last_arrival = None

    def on_new_sample(self, sink):
        sample = sink.pull_sample()
        seen = self.look_at(sample)
        with self.lock:
            if self.received == 0:
                what = "unlike any drawn" if seen is None else f"picture {seen}, exactly as drawn"
                print(f"receiver: first picture: {what}")
            self.received += 1
            self.last_arrival = time.monotonic()
            if seen is not None:
                self.exact += 1
                self.last_matched = seen
            else:
                self.other += 1
                if self.other <= 3:
                    print(f"receiver: picture {self.received} is unlike any the app drew")
        return Gst.FlowReturn.OK

    def look_at(self, sample):
        """Which drawn picture `sample` is, if any."""
        info = GstVideo.VideoInfo.new_from_caps(sample.get_caps())
        if info is None or info.finfo.format != GstVideo.VideoFormat.BGRX:
            return None
        buffer = sample.get_buffer()
        ok, mapped = buffer.map(Gst.MapFlags.READ)
        if not ok:
            return None
        try:
            crc = checksum(mapped.data, info.stride[0], info.width, info.height)
        finally:
            buffer.unmap(mapped)
        return self.drawn.get(crc)

    def decoder_stats(self):
        return self.decoder.get_property("stats")


def start_error(pipeline):
    """Why `pipeline` failed to start: the error its element posted (the main
    loop that would print it is not running yet)."""
    msg = pipeline.get_bus().pop_filtered(Gst.MessageType.ERROR)
    return "no element said why" if msg is None else error_text(msg)


def error_text(msg):
    """An error or warning message as "error from <element path>: <text> (<details>)"."""
    kind, (err, debug) = (
        ("error", msg.parse_error())
        if msg.type == Gst.MessageType.ERROR
        else ("warning", msg.parse_warning())
    )
    src = msg.src.get_path_string() if msg.src else ""
    return f"{kind} from {src}: {err.message} ({debug or 'no details'})"


# --- the app ------------------------------------------------------------------


class App:
    def __init__(self, args):
        self.args = args
        # checksum -> number of the first picture drawn with it; written
        # before each push, read by the receiver's streaming thread.
        self.drawn = {}
        self.receiver = Receiver(args, self.drawn)
        self.sender = Sender(args)
        self.loop = GLib.MainLoop()
        self.pushed = 0
        self.keyframes_before_change = None
        self.receiver_eos = False
        self.exit = None
        self.started = time.monotonic()

    def elapsed(self):
        return time.monotonic() - self.started

    def finish(self, code):
        if self.exit is None:
            self.exit = code
        self.loop.quit()

    def run(self):
        a = self.args
        print(
            f"embed: {a.frames} pictures of {a.width}x{a.height} at {a.fps} fps to "
            f"127.0.0.1:{a.port}; key-int-max 0 -> {a.key_int_max} after picture {a.change_at}"
        )
        pipelines = (("sender", self.sender.pipeline), ("receiver", self.receiver.pipeline))
        for side, pipeline in pipelines:
            bus = pipeline.get_bus()
            bus.add_signal_watch()
            bus.connect("message", self.on_message, side, pipeline)
        # The receiver first, so that its socket is bound before the first
        # packet (the keyframe) is sent: udpsrc binds it on the way to READY,
        # inside this call.
        for side, pipeline in reversed(pipelines):
            if pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
                print(f"{side}: does not start: {start_error(pipeline)}")
                self.stop()
                return 1
        # The app's frame clock: one picture per tick, as a drawing app would
        # hand over what it has just rendered.
        GLib.timeout_add(max(1, round(1000 / a.fps)), self.push_next_picture)
        GLib.timeout_add_seconds(a.timeout, self.on_timeout)
        self.loop.run()
        self.stop()
        code = 1 if self.exit is None else self.exit
        return self.verdict() if code == 0 else code

    def stop(self):
        # Elements are disposed of in NULL only.
        for pipeline in (self.sender.pipeline, self.receiver.pipeline):
            pipeline.get_bus().remove_signal_watch()
            pipeline.set_state(Gst.State.NULL)

    def push_next_picture(self):
        """Draws and pushes the next picture; False (stop ticking) once all are."""
        n, a = self.pushed, self.args
        if n == a.change_at:
            self.change_property()
        if n == a.frames:
            print(f"sender:   all {n} pictures pushed after {self.elapsed():.1f} s; end of stream")
            self.sender.appsrc.end_of_stream()
            return False
        picture = draw_picture(n, a.width, a.height)
        self.drawn.setdefault(checksum(picture, a.width * 4, a.width, a.height), n)
        flow = self.sender.appsrc.push_buffer(Gst.Buffer.new_wrapped(bytes(picture)))
        if flow != Gst.FlowReturn.OK:
            print(f"sender:   picture {n} refused: {flow.value_nick}")
            self.finish(1)
            return False
        self.pushed = n + 1
        if self.pushed % a.fps == 0:
            print(
                f"sender:   {self.pushed} pictures pushed; "
                f"deltaenc: {encoder_line(self.sender.encoder_stats())}"
            )
        return True

    def change_property(self):
        """The property change while playing: from now on a keyframe every
        key-int-max frames. deltaenc applies it from its next frame."""
        encoder = self.sender.encoder
        keyframes = stat(self.sender.encoder_stats(), "keyframes")
        self.keyframes_before_change = keyframes
        old = encoder.get_property("key-int-max")
        encoder.set_property("key-int-max", self.args.key_int_max)
        new = encoder.get_property("key-int-max")
        print(
            f"app:      after picture {self.pushed}: deltaenc key-int-max {old} -> {new} "
            f"while playing (keyframes so far: {keyframes})"
        )

    def on_timeout(self):
        print(
            f"embed: timed out after {self.elapsed():.1f} s: {self.pushed} pictures pushed, "
            f"{self.receiver.received} received"
        )
        self.finish(1)
        return False

    def on_message(self, _bus, msg, side, pipeline):
        if msg.type == Gst.MessageType.ERROR:
            print(f"{side}: {error_text(msg)}")
            self.finish(1)
        elif msg.type == Gst.MessageType.WARNING:
            print(f"{side}: {error_text(msg)}")
        elif msg.type == Gst.MessageType.LATENCY:
            # A live pipeline's latency is known once every element has said
            # its own: the app tells the pipeline to add it up again.
            pipeline.recalculate_latency()
        elif msg.type == Gst.MessageType.ELEMENT:
            s = msg.get_structure()
            if s is not None and s.get_name() == "framemeter":
                print(f"receiver: framemeter: {meter_line(s)}")
        elif msg.type == Gst.MessageType.EOS and side == "sender":
            print(f"sender:   end of stream: every packet is out ({self.elapsed():.1f} s)")
            GLib.timeout_add(50, self.drain_receiver, self.pushed - 1)
        elif msg.type == Gst.MessageType.EOS:
            print(f"receiver: end of stream ({self.elapsed():.1f} s)")
            self.receiver_eos = True
            self.final_report()
            self.finish(0)

    def drain_receiver(self, last):
        """UDP carries no end of stream: once the last picture is in (or
        nothing came for two seconds), the app ends the receiver's stream
        itself, and framemeter posts its last message on the way."""
        with self.receiver.lock:
            arrival, matched = self.receiver.last_arrival, self.receiver.last_matched
        quiet = arrival is None or time.monotonic() - arrival > 2
        if matched == last or quiet:
            if quiet:
                print("receiver: nothing new for 2 s: ending the stream")
            self.receiver.pipeline.send_event(Gst.Event.new_eos())
            return False
        return True

    def final_report(self):
        print("stats at the end:")
        for title, stats in (
            ("deltaenc", self.sender.encoder_stats()),
            ("rtpdeltapay", self.sender.payloader.get_property("stats")),
            ("rtpdeltadepay", self.receiver.depayloader.get_property("delta-stats")),
            ("deltadec", self.receiver.decoder_stats()),
            ("framemeter", self.receiver.meter.get_property("stats")),
        ):
            print(stats_block(title, stats))
        caps = self.sender.payloader.get_static_pad("src").get_current_caps()
        if caps is not None:
            print(f"the RTP caps the payloader sent (an SDP would carry them): {caps.to_string()}")

    def verdict(self):
        """The app's own checks, printed, and the exit status they give."""
        r = self.receiver
        keyframes_end = stat(self.sender.encoder_stats(), "keyframes")
        decoder_keyframes = stat(r.decoder_stats(), "keyframes")
        before = self.keyframes_before_change
        last = "-" if r.last_matched is None else r.last_matched
        print(
            f"app:      sent {self.pushed} pictures, received {r.received}: {r.exact} exactly "
            f"as drawn, {r.other} not; last one received was picture {last}"
        )
        print(
            f"app:      keyframes: {'-' if before is None else before} before the change, "
            f"{keyframes_end} at the end (the decoder saw {decoder_keyframes})"
        )
        failed = []
        if r.received == 0:
            failed.append("no picture arrived")
        if r.other > 0:
            failed.append("some pictures arrived unlike any the app drew")
        # With key-int-max N, a keyframe is due within N pictures of the change.
        a = self.args
        keyframe_due = a.key_int_max > 0 and self.pushed - a.change_at >= a.key_int_max
        if keyframe_due and (before is None or keyframes_end <= before):
            failed.append("the key-int-max change did not show in deltaenc's keyframes")
        if not keyframe_due:
            print("app:      too few pictures after the change to expect a keyframe: not checked")
        for f in failed:
            print(f"app:      check failed: {f}")
        print(
            f"result: sent={self.pushed} received={r.received} exact={r.exact} other={r.other} "
            f"last-picture={-1 if r.last_matched is None else r.last_matched} "
            f"keyframes-before-change={-1 if before is None else before} "
            f"keyframes-at-end={keyframes_end} decoder-keyframes={decoder_keyframes} "
            f"eos={'true' if self.receiver_eos else 'false'}"
        )
        return 3 if failed else 0


def parse_args():
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--frames", type=int, default=90, help="pictures to send (default 90)")
    parser.add_argument("--fps", type=int, default=30, help="pictures per second (default 30)")
    parser.add_argument(
        "--port", type=int, default=5004,
        help="UDP port on 127.0.0.1 to send to and receive on (default 5004)",
    )
    parser.add_argument(
        "--width", type=int, default=640, help="picture width, at least 320 (default 640)"
    )
    parser.add_argument(
        "--height", type=int, default=360, help="picture height, at least 256 (default 360)"
    )
    parser.add_argument(
        "--change-at", type=int, default=None,
        help="after this many pictures (fewer than --frames), set key-int-max (default frames/2)",
    )
    parser.add_argument(
        "--key-int-max", type=int, default=10,
        help="the key-int-max set then: a keyframe every N frames (default 10)",
    )
    parser.add_argument(
        "--timeout", type=int, default=60, help="give up after this many seconds (default 60)"
    )
    args = parser.parse_args()
    if args.frames < 1 or args.fps < 1 or not 0 < args.port < 65536:
        parser.error("--frames and --fps must be above 0, --port 1 to 65535")
    # The scene's window needs room for the icon to move in.
    if not (320 <= args.width <= 4096 and 256 <= args.height <= 4096):
        parser.error("the picture must be 320x256 to 4096x4096")
    if args.change_at is None:
        args.change_at = args.frames // 2
    if args.key_int_max < 0 or args.change_at < 0 or args.timeout < 1:
        parser.error("--key-int-max and --change-at must be 0 or more, --timeout above 0")
    if args.change_at >= args.frames:
        parser.error("--change-at must be below --frames")
    return args


def main():
    args = parse_args()
    # Progress lines as they happen, also into a pipe.
    sys.stdout.reconfigure(line_buffering=True)
    Gst.init(None)
    ours = ("framestamp", "deltaenc", "rtpdeltapay", "rtpdeltadepay", "deltadec", "framemeter")
    missing = [f for f in ours if Gst.ElementFactory.find(f) is None]
    if missing:
        print(
            f"embed.py: GStreamer does not know {', '.join(missing)}: build the plugin "
            "(cargo build -p gst-plugin-streamkit) and set GST_PLUGIN_PATH to the folder "
            "of libgststreamkit.so (target/debug)",
            file=sys.stderr,
        )
        return 1
    try:
        return App(args).run()
    except RuntimeError as e:
        print(f"embed.py: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
