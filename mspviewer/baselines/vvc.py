"""VVC (H.266) intra through the static ffmpeg shipped by ``imageio-ffmpeg``: libvvenc to
encode, ffmpeg's native ``vvc`` decoder to decode.

The colour conversion is done here, in numpy, so that it is exact and documented, and ffmpeg
only moves 10-bit YCbCr planes (YUV4MPEG2 files) in and out of the codec:

- RGB (8-bit, taken as full-range R'G'B') -> Y'CbCr with the **BT.709** matrix
  (Kr = 0.2126, Kb = 0.0722), **limited ("studio") range**, **10 bits** per sample
  (Y = round(876 E'y + 64), Cb/Cr = round(896 E'pb/pr + 512), ITU-T H.273 with
  ``video_full_range_flag = 0``); the bitstream's VUI says so (BT.709 matrix and
  primaries, sRGB transfer, limited range), so any VVC player shows the right colours;
- chroma **4:2:0** by averaging each 2x2 block (chroma sited at the centre of the block):
  libvvenc only accepts ``yuv420p10le``;
- back: chroma upsampled 2x with centred bilinear weights (3/4, 1/4), inverse BT.709,
  rounded and clipped to 8-bit RGB.

The rate is the size of the whole raw VVC bitstream (Annex B: parameter sets, slice data and
any SEI the encoder writes) that ffmpeg's ``vvc`` muxer produces. Odd widths or heights are
refused: a 4:2:0 VVC picture can only be cropped in steps of two luma samples.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from mspviewer.baselines.base import (
    ClassicCodec,
    CodecError,
    CodecUnavailableError,
    UnsupportedImageError,
)

KR, KB = 0.2126, 0.0722  # ITU-R BT.709 luma coefficients
KG = 1.0 - KR - KB
BIT_DEPTH = 10
MAX_CODE = (1 << BIT_DEPTH) - 1  # 1023
SCALE = 1 << (BIT_DEPTH - 8)  # 4: limited-range 8-bit levels scaled to 10 bits
LUMA_OFFSET, LUMA_SPAN = 16 * SCALE, 219 * SCALE  # 64, 876
CHROMA_OFFSET, CHROMA_SPAN = 128 * SCALE, 224 * SCALE  # 512, 896
MIN_SIDE = 16  # smaller pictures make libvvenc fail
TAG_FILTER = "setparams=range=tv:colorspace=bt709:color_primaries=bt709:color_trc=iec61966-2-1"


# --- colour conversion -----------------------------------------------------------------------
def rgb_to_ycbcr420(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """8-bit RGB (H, W even) -> 10-bit limited-range BT.709 Y (H, W), Cb, Cr (H/2, W/2)."""
    height, width = pixels.shape[:2]
    if height % 2 or width % 2:
        raise UnsupportedImageError(
            f"VVC 4:2:0 needs an even width and height, got {width}x{height}"
        )
    rgb = pixels.astype(np.float64) / 255.0
    red, green, blue = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    luma = KR * red + KG * green + KB * blue
    pb = (blue - luma) / (2.0 * (1.0 - KB))
    pr = (red - luma) / (2.0 * (1.0 - KR))

    def down(plane: np.ndarray) -> np.ndarray:
        return plane.reshape(height // 2, 2, width // 2, 2).mean(axis=(1, 3))

    def code(plane: np.ndarray, span: int, offset: int) -> np.ndarray:
        return np.clip(np.rint(span * plane + offset), 0, MAX_CODE).astype(np.uint16)

    return (
        code(luma, LUMA_SPAN, LUMA_OFFSET),
        code(down(pb), CHROMA_SPAN, CHROMA_OFFSET),
        code(down(pr), CHROMA_SPAN, CHROMA_OFFSET),
    )


def _upsample2(plane: np.ndarray) -> np.ndarray:
    """Centred 2x bilinear upsampling (weights 3/4 and 1/4, edges replicated), both axes."""

    def along(axis_plane: np.ndarray, axis: int) -> np.ndarray:
        count = axis_plane.shape[axis]
        before = np.take(axis_plane, np.clip(np.arange(count) - 1, 0, count - 1), axis=axis)
        after = np.take(axis_plane, np.clip(np.arange(count) + 1, 0, count - 1), axis=axis)
        even = 0.75 * axis_plane + 0.25 * before
        odd = 0.75 * axis_plane + 0.25 * after
        stacked = np.stack([even, odd], axis=axis + 1)
        shape = list(axis_plane.shape)
        shape[axis] *= 2
        return stacked.reshape(shape)

    return along(along(plane, 0), 1)


def ycbcr420_to_rgb(luma: np.ndarray, cb: np.ndarray, cr: np.ndarray) -> np.ndarray:
    """Inverse of :func:`rgb_to_ycbcr420`: 10-bit planes -> 8-bit RGB (H, W, 3)."""
    height, width = luma.shape
    y = (luma.astype(np.float64) - LUMA_OFFSET) / LUMA_SPAN
    pb = _upsample2((cb.astype(np.float64) - CHROMA_OFFSET) / CHROMA_SPAN)[:height, :width]
    pr = _upsample2((cr.astype(np.float64) - CHROMA_OFFSET) / CHROMA_SPAN)[:height, :width]
    red = y + 2.0 * (1.0 - KR) * pr
    blue = y + 2.0 * (1.0 - KB) * pb
    green = (y - KR * red - KB * blue) / KG
    rgb = np.stack([red, green, blue], axis=-1)
    return np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)


# --- YUV4MPEG2 (10-bit 4:2:0) ------------------------------------------------------------------
def write_y4m(path: Path, luma: np.ndarray, cb: np.ndarray, cr: np.ndarray) -> None:
    height, width = luma.shape
    header = (
        f"YUV4MPEG2 W{width} H{height} F25:1 Ip A1:1 C420p10 XYSCSS=420P10 "
        "XCOLORRANGE=LIMITED\n"
    )
    with open(path, "wb") as handle:
        handle.write(header.encode("ascii"))
        handle.write(b"FRAME\n")
        for plane in (luma, cb, cr):
            handle.write(plane.astype("<u2").tobytes())


def read_y4m(data: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Read the first frame of a 10-bit 4:2:0 YUV4MPEG2 stream."""
    end = data.find(b"\n")
    if not data.startswith(b"YUV4MPEG2 ") or end < 0:
        raise CodecError("VVC decoder output is not a YUV4MPEG2 stream")
    fields = {token[:1]: token[1:] for token in data[10:end].split(b" ") if token}
    try:
        width, height = int(fields[b"W"]), int(fields[b"H"])
    except (KeyError, ValueError) as error:
        raise CodecError("VVC decoder output has no picture size") from error
    if fields.get(b"C") != b"420p10":
        raise CodecError(f"VVC decoder output is {fields.get(b'C')!r}, expected 420p10")
    frame_end = data.find(b"\n", end + 1)
    if data[end + 1 : end + 6] != b"FRAME" or frame_end < 0:
        raise CodecError("VVC decoder output has no frame")
    chroma_h, chroma_w = (height + 1) // 2, (width + 1) // 2
    counts = (height * width, chroma_h * chroma_w, chroma_h * chroma_w)
    if len(data) - (frame_end + 1) < 2 * sum(counts):
        raise CodecError(f"VVC decoder output is shorter than a {width}x{height} frame")
    samples = np.frombuffer(data, dtype="<u2", count=sum(counts), offset=frame_end + 1)
    luma = samples[: counts[0]].reshape(height, width)
    cb = samples[counts[0] : counts[0] + counts[1]].reshape(chroma_h, chroma_w)
    cr = samples[counts[0] + counts[1] :].reshape(chroma_h, chroma_w)
    return luma, cb, cr


# --- ffmpeg ------------------------------------------------------------------------------------
def ffmpeg_exe() -> str:
    """Path of imageio-ffmpeg's ffmpeg (or ``IMAGEIO_FFMPEG_EXE``); raises if there is none."""
    try:
        import imageio_ffmpeg
    except ImportError as error:
        raise CodecUnavailableError(
            "imageio-ffmpeg is not installed (pip install imageio-ffmpeg)"
        ) from error
    try:
        return imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError as error:
        raise CodecUnavailableError(f"imageio-ffmpeg has no ffmpeg binary: {error}") from error


def run_ffmpeg(exe: str, arguments: list[str], timeout: float) -> subprocess.CompletedProcess:
    """Run ffmpeg without stdin, capturing output; errors become :class:`CodecError`."""
    command = [exe, "-hide_banner", "-nostdin", *arguments]
    try:
        result = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        raise CodecError(f"ffmpeg took more than {timeout:g} s and was stopped") from error
    except OSError as error:
        raise CodecError(f"cannot run ffmpeg: {error}") from error
    if result.returncode != 0:
        tail = result.stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
        raise CodecError(f"ffmpeg failed (exit {result.returncode}): {' | '.join(tail)}")
    return result


@functools.lru_cache(maxsize=4)
def _probe_ffmpeg(exe: str) -> tuple[str | None, str]:
    """(reason or None, version string) for this ffmpeg binary: checked once per process."""
    encoders = run_ffmpeg(exe, ["-encoders"], timeout=30).stdout.decode("utf-8", "replace")
    decoders = run_ffmpeg(exe, ["-decoders"], timeout=30).stdout.decode("utf-8", "replace")
    if not re.search(r"^\s*V\S*\s+libvvenc\s", encoders, re.MULTILINE):
        return f"ffmpeg at {exe} was built without the libvvenc encoder", ""
    if not re.search(r"^\s*V\S*\s+vvc\s", decoders, re.MULTILINE):
        return f"ffmpeg at {exe} has no VVC decoder", ""
    version = run_ffmpeg(exe, ["-version"], timeout=30).stdout.decode("utf-8", "replace")
    ffmpeg_version = version.split("\n", 1)[0].replace("ffmpeg version ", "").split(" ")[0]
    # A tiny encode proves the encoder runs and makes libvvenc print its version.
    with tempfile.TemporaryDirectory(prefix="mspviewer-vvc-") as folder:
        out = os.path.join(folder, "probe.266")
        log = run_ffmpeg(
            exe,
            ["-f", "lavfi", "-i", f"color=c=gray:s={MIN_SIDE}x{MIN_SIDE}:d=0.04",
             "-frames:v", "1", "-pix_fmt", "yuv420p10le", "-c:v", "libvvenc",
             "-preset", "faster", "-qp", "40", "-f", "vvc", "-y", out],
            timeout=60,
        ).stderr.decode("utf-8", "replace")
    match = re.search(r"libvvenc version:\s*(\S+)", log)
    vvenc = match.group(1) if match else "unknown"
    return None, f"ffmpeg {ffmpeg_version} (imageio-ffmpeg), libvvenc {vvenc}, ffmpeg vvc decoder"


class VvcCodec(ClassicCodec):
    """VVC intra (one I-picture) with libvvenc; ``quality`` is the QP (higher = fewer bytes)."""

    family = "VVC"
    library = "ffmpeg (imageio-ffmpeg) / libvvenc, ffmpeg vvc decoder"
    quality_name = "QP"
    quality_range = (10, 63)  # libvvenc failed at QP 0-1 on Kodak; nobody needs > 8 bpp
    quality_step = 1
    more_bytes_when_higher = False
    default_qualities = (47, 42, 37, 32, 27, 22)
    file_extension = ".266"

    PRESETS = ("faster", "fast", "medium", "slow", "slower")

    def __init__(self, preset: str = "medium", encode_timeout: float = 600.0,
                 decode_timeout: float = 120.0) -> None:
        super().__init__()
        if preset not in self.PRESETS:
            raise ValueError(f"preset must be one of {self.PRESETS}")
        self.preset = preset
        self.encode_timeout = encode_timeout
        self.decode_timeout = decode_timeout
        self.name = "vvc" if preset == "medium" else f"vvc-{preset}"
        self.label = "VVC intra" if preset == "medium" else f"VVC intra ({preset})"

    def _probe(self) -> str | None:
        try:
            exe = ffmpeg_exe()
        except CodecUnavailableError as error:
            return str(error)
        reason, _ = _probe_ffmpeg(exe)
        return reason

    def library_version(self) -> str:
        if not self.is_available():
            return ""
        return _probe_ffmpeg(ffmpeg_exe())[1]

    def settings(self) -> dict[str, Any]:
        return {
            "chroma": "4:2:0 (the only format libvvenc accepts); 2x2 mean down, centred "
            "bilinear up",
            "colour": "RGB -> Y'CbCr BT.709 matrix, limited range, done in numpy; "
            "VUI: BT.709 matrix/primaries, sRGB transfer, limited range",
            "bit_depth": "10-bit input and internal (yuv420p10le, Main 10)",
            "encoder": f"libvvenc preset {self.preset}, constant QP, qpa=0 (no perceptual "
            "QP adaptation), one intra picture",
            "decoder": "ffmpeg native vvc decoder, same binary",
            "container": "raw VVC Annex B bitstream (.266), whole file counted",
        }

    def _encode(self, pixels: np.ndarray, quality: float | int) -> bytes:
        height, width = pixels.shape[:2]
        if min(height, width) < MIN_SIDE:
            raise UnsupportedImageError(
                f"VVC needs at least {MIN_SIDE}x{MIN_SIDE} pixels, got {width}x{height}"
            )
        planes = rgb_to_ycbcr420(pixels)
        exe = ffmpeg_exe()
        with tempfile.TemporaryDirectory(prefix="mspviewer-vvc-") as folder:
            source, target = Path(folder, "in.y4m"), Path(folder, "out.266")
            write_y4m(source, *planes)
            run_ffmpeg(
                exe,
                ["-loglevel", "error", "-f", "yuv4mpegpipe", "-i", str(source),
                 "-frames:v", "1", "-c:v", "libvvenc", "-preset", self.preset,
                 "-qp", str(int(quality)), "-qpa", "0",
                 # Tag the frames (no conversion): setting -colorspace etc. on the encoder
                 # instead makes ffmpeg insert a silent swscale conversion.
                 "-vf", TAG_FILTER, "-f", "vvc", "-y", str(target)],
                timeout=self.encode_timeout,
            )
            data = target.read_bytes() if target.is_file() else b""
        if not data:
            raise CodecError("libvvenc wrote no bitstream")
        return data

    def _decode(self, data: bytes) -> np.ndarray:
        exe = ffmpeg_exe()
        with tempfile.TemporaryDirectory(prefix="mspviewer-vvc-") as folder:
            source, target = Path(folder, "in.266"), Path(folder, "out.y4m")
            source.write_bytes(data)
            run_ffmpeg(
                exe,
                # -xerror: a damaged stream fails; without it ffmpeg conceals the errors
                # and exits 0 with a wrong picture (half of a stream gave 14 dB for 33)
                ["-loglevel", "error", "-xerror", "-f", "vvc", "-i", str(source),
                 "-frames:v", "1", "-pix_fmt", "yuv420p10le", "-strict", "-1",
                 "-f", "yuv4mpegpipe", "-y", str(target)],
                timeout=self.decode_timeout,
            )
            decoded = target.read_bytes() if target.is_file() else b""
        if not decoded:
            raise CodecError("the VVC decoder wrote no picture")
        return ycbcr420_to_rgb(*read_y4m(decoded))
