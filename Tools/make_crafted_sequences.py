#!/usr/bin/env python3
"""Crafted picture sequences for the trust tests (issue 37): scans a careless or hostile source
could hand the tool. Made here, from pictures FFmpeg writes, so no binary is committed.

    Tools/make_crafted_sequences.py OUT_FOLDER

writes one folder per case under OUT_FOLDER (three 64x48 pictures each unless said):

  dpx-good/          valid 10-bit DPX at 24 fps, timecode 01:00:00:00 (the baseline)
  dpx-tc-99/         timecode 99:99:99:99 (every field out of range)
  dpx-tc-frames30/   timecode 00:00:00:30 at 24 fps (frames >= the rate)
  dpx-zero-size/     width and height 0 in the image header
  dpx-huge-size/     width 0xFFFFFFFF, height 0x7FFFFFFF
  dpx-offset-out/    the image data offset points past the end of the file
  dpx-truncated/     the second picture cut inside its header
  png-size-change/   PNGs of 64x48 and one of 32x24 (the second)
  png-two-names/     a_0001..3.png and b_0001..3.png in one folder
  100%_scans/        PNGs in a folder whose name holds a percent sign

Needs ffmpeg on the PATH (installed by `make setup`).
"""
import os
import struct
import subprocess
import sys


def ffmpeg(*args):
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True)


def pictures(folder, name, ext, size="64x48", count=3, codec_args=()):
    os.makedirs(folder, exist_ok=True)
    # FFmpeg reads a % in the folder as a pattern too: doubled.
    ffmpeg("-f", "lavfi", "-i", f"testsrc2=size={size}:rate=24", "-frames:v", str(count), *codec_args,
           os.path.join(folder.replace("%", "%%"), f"{name}%04d.{ext}"))


def bcd(tc):
    """HH:MM:SS:FF as the DPX TV header's packed BCD word (each digit a nibble, taken as given)."""
    digits = tc.replace(":", "")
    value = 0
    for d in digits:
        value = value << 4 | int(d, 16)
    return value


E = ">"  # the byte order of the file being edited: "SDPX" big-endian, "XPDS" little-endian


def grow_header(data):
    """FFmpeg writes a 1664-byte DPX header (no film or TV header): grow it to 2048 bytes, with the
    film and TV headers undefined (all ones), as FilmRestore's own DPX stamping does."""
    global E
    E = ">" if data[:4] == b"SDPX" else "<"
    offset = struct.unpack(E + "I", data[4:8])[0]
    if offset >= 2048:
        return bytearray(data)
    grow = 2048 - offset
    b = bytearray(data[:offset]) + bytearray(b"\xff" * grow) + bytearray(data[offset:])
    struct.pack_into(E + "I", b, 4, 2048)
    struct.pack_into(E + "I", b, 16, struct.unpack(E + "I", b[16:20])[0] + grow)
    struct.pack_into(E + "I", b, 24, 384)
    struct.pack_into(E + "I", b, 28, 0)
    for e in range(8):
        o = 780 + 72 * e + 28
        v = struct.unpack(E + "I", b[o:o + 4])[0]
        if v != 0xFFFFFFFF and v >= offset:
            struct.pack_into(E + "I", b, o, v + grow)
    return b


def dpx_case(out, name, edit):
    folder = os.path.join(out, name)
    pictures(folder, "scan_", "dpx", codec_args=("-pix_fmt", "gbrp10le", "-c:v", "dpx"))
    for i, f in enumerate(sorted(os.listdir(folder))):
        p = os.path.join(folder, f)
        with open(p, "rb") as h:
            b = grow_header(h.read())
        struct.pack_into(E + "f", b, 1724, 24.0)  # film header: frames per second
        struct.pack_into(E + "f", b, 1940, 24.0)  # TV header: temporal sampling rate
        struct.pack_into(E + "I", b, 1920, bcd("01:00:00:00"))
        b = edit(i, b)
        with open(p, "wb") as h:
            h.write(b)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)

    def keep(i, b):
        return b

    def tc(text):
        def edit(i, b):
            struct.pack_into(E + "I", b, 1920, bcd(text))
            return b
        return edit

    def size(w, h):
        def edit(i, b):
            struct.pack_into(E + "II", b, 772, w, h)
            return b
        return edit

    def offset_out(i, b):
        struct.pack_into(E + "I", b, 4, len(b) + 4096)
        struct.pack_into(E + "I", b, 808, len(b) + 4096)
        return b

    def truncated(i, b):
        return b[:700] if i == 1 else b

    dpx_case(out, "dpx-good", keep)
    dpx_case(out, "dpx-tc-99", tc("99:99:99:99"))
    dpx_case(out, "dpx-tc-frames30", tc("00:00:00:30"))
    dpx_case(out, "dpx-zero-size", size(0, 0))
    dpx_case(out, "dpx-huge-size", size(0xFFFFFFFF, 0x7FFFFFFF))
    dpx_case(out, "dpx-offset-out", offset_out)
    dpx_case(out, "dpx-truncated", truncated)

    change = os.path.join(out, "png-size-change")
    pictures(change, "f_", "png")
    os.remove(os.path.join(change, "f_0002.png"))
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=32x24", "-frames:v", "1", "-update", "1",
           os.path.join(change, "f_0002.png"))

    two = os.path.join(out, "png-two-names")
    pictures(two, "a_", "png")
    pictures(two, "b_", "png")

    pictures(os.path.join(out, "100%_scans"), "f_", "png")


if __name__ == "__main__":
    main()
