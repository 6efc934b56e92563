"""Classic codecs: real files, real sizes, PSNR recomputed independently with scikit-image."""

from __future__ import annotations

import json
import math
import os
import stat
import sys

import numpy as np
import pytest
from conftest import smooth_image
from skimage.metrics import peak_signal_noise_ratio

from mspviewer.baselines import (
    ClassicCodec,
    CodecError,
    CodecUnavailableError,
    UnsupportedImageError,
    codec_names,
    find_quality_for_bpp,
    get_codec,
)
from mspviewer.baselines import vvc as vvc_module
from mspviewer.baselines.heic import HeicCodec
from mspviewer.baselines.registry import UnknownCodecError

HEIGHT, WIDTH = 64, 96

# What the first bytes of each codec's file must be (the format's own signature).
SIGNATURES = {
    "jpeg": lambda d: d[:3] == b"\xff\xd8\xff" and d[-2:] == b"\xff\xd9",
    "webp": lambda d: d[:4] == b"RIFF" and d[8:12] == b"WEBP",
    "jpeg2000": lambda d: d[:4] == b"\xff\x4f\xff\x51",  # SOC + SIZ markers, raw codestream
    "avif": lambda d: d[4:8] == b"ftyp" and b"avif" in d[8:32],
    "heic": lambda d: d[4:8] == b"ftyp" and d[8:12] in (b"heic", b"heix"),  # heix: 4:4:4
    "jpegxl": lambda d: d[:2] == b"\xff\x0a",  # bare codestream
    "vvc": lambda d: d[:4] == b"\x00\x00\x00\x01" or d[:3] == b"\x00\x00\x01",  # Annex B
}


def signature_ok(name: str, data: bytes) -> bool:
    return SIGNATURES[name.split("-")[0]](data)


@pytest.fixture(scope="module")
def pixels() -> np.ndarray:
    return smooth_image(HEIGHT, WIDTH, seed=5)


def available_or_skip(name: str) -> ClassicCodec:
    """The codec, which must be available: every classic codec comes from a library pinned in
    pyproject.toml (Pillow, pillow-heif, pillow-jxl-plugin, imageio-ffmpeg), so a missing one
    is a broken install that must fail the tests, not skip them."""
    codec = get_codec(name)
    reason = codec.unavailable_reason()
    if reason is not None:
        pytest.fail(f"{name} unavailable although its library is a pinned dependency: {reason}")
    return codec


@pytest.mark.parametrize("name", codec_names())
def test_round_trip_at_two_qualities(name, pixels):
    codec = available_or_skip(name)
    qualities = codec.default_qualities
    low, high = qualities[1], qualities[-2]  # low rate, then high rate
    results = []
    for quality in (low, high):
        data = codec.encode(pixels, quality)
        assert isinstance(data, bytes) and signature_ok(name, data), data[:16]
        decoded = codec.decode(data)
        assert decoded.shape == pixels.shape and decoded.dtype == np.uint8
        bpp = 8 * len(data) / (HEIGHT * WIDTH)
        psnr = peak_signal_noise_ratio(pixels, decoded, data_range=255)
        results.append((bpp, psnr))
    (bpp_low, psnr_low), (bpp_high, psnr_high) = results
    assert 0 < bpp_low < bpp_high
    assert psnr_high > psnr_low
    assert psnr_low > 15.0  # a decode of the wrong image or garbage is far below this
    assert psnr_high > 28.0


@pytest.mark.parametrize("name", [n for n in codec_names() if n != "vvc"])
def test_both_ends_of_the_quality_range_encode(name, pixels):
    """Quality search probes the range's ends: every end must be a valid setting
    (lossy JPEG XL at quality 100 once failed inside libjxl)."""
    codec = available_or_skip(name)
    for quality in codec.quality_range:
        decoded = codec.decode(codec.encode(pixels, quality))
        assert decoded.shape == pixels.shape


@pytest.mark.parametrize("name", ["jpeg-420", "webp", "jpeg2000", "vvc-faster"])
def test_decode_is_deterministic_and_rejects_garbage(name, pixels):
    codec = available_or_skip(name)
    data = codec.encode(pixels, codec.default_qualities[len(codec.default_qualities) // 2])
    assert np.array_equal(codec.decode(data), codec.decode(data))
    with pytest.raises(CodecError):
        codec.decode(b"definitely not an image file")
    with pytest.raises(CodecError):
        codec.decode(b"")


@pytest.mark.parametrize("name", ["webp", "jpeg2000", "avif", "heic", "jpegxl", "vvc-faster"])
def test_a_damaged_file_is_refused_not_decoded_wrongly(name):
    """Half a file is a CodecError with a one-line message. ffmpeg's VVC decoder used to
    conceal the damage and exit 0 with a wrong picture; libjxl raised a RuntimeError that
    went past every caller's ``except CodecError``. (Noise: a stream long enough that its
    first half holds whole headers, which a smooth image's 300 bytes did not.)"""
    codec = available_or_skip(name)
    noise = np.random.default_rng(0).integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    data = codec.encode(noise, codec.default_qualities[len(codec.default_qualities) // 2])
    with pytest.raises(CodecError) as refused:
        codec.decode(data[: len(data) // 2])
    assert "\n" not in str(refused.value)


def test_an_image_avif_refuses_is_a_codec_error():
    """libavif refuses a 2×70000 image; Pillow raises RuntimeError, which stopped a whole
    ``compare`` run instead of that codec's points."""
    codec = available_or_skip("avif")
    with pytest.raises(CodecError, match="encoder failed"):
        codec.encode(np.zeros((2, 70000, 3), np.uint8), 50)


def test_jpeg_chroma_subsampling_differs(pixels):
    j420, j444 = get_codec("jpeg-420"), get_codec("jpeg-444")
    # Same quality: 4:4:4 keeps four times the chroma samples, so the file is larger.
    assert len(j444.encode(pixels, 75)) > len(j420.encode(pixels, 75))


def test_quality_is_validated(pixels):
    jpeg = get_codec("jpeg-420")
    with pytest.raises(CodecError):
        jpeg.encode(pixels, 101)
    with pytest.raises(CodecError):
        jpeg.encode(pixels, 50.5)
    with pytest.raises(CodecError):
        jpeg.encode(pixels, float("nan"))
    with pytest.raises(ValueError):
        jpeg.encode(pixels.astype(np.float32), 50)
    with pytest.raises(ValueError):
        jpeg.encode(pixels[..., :2], 50)


def test_unknown_codec_name():
    with pytest.raises(UnknownCodecError, match="jpeg-420"):
        get_codec("jpeg-9000")


def test_describe_is_json_and_names_versions():
    for name in codec_names():
        info = get_codec(name).describe()
        json.dumps(info)
        assert info["name"] == name
        if info["available"]:
            assert any(ch.isdigit() for ch in info["library_version"]), info
        else:
            assert info["unavailable_reason"]


# --- unavailable codecs ------------------------------------------------------------------------
def test_missing_library_is_unavailable_not_a_crash(monkeypatch, pixels):
    monkeypatch.setitem(sys.modules, "pillow_heif", None)  # makes `import pillow_heif` fail
    codec = HeicCodec()
    assert not codec.is_available()
    assert "pillow-heif" in codec.unavailable_reason()
    assert codec.describe()["available"] is False
    with pytest.raises(CodecUnavailableError, match="pillow-heif"):
        codec.encode(pixels, 50)


def test_libheif_without_an_hevc_decoder_is_unavailable(monkeypatch, pixels):
    # A libheif with x265 and only other decoder plugins (AV1, JPEG) cannot read its own
    # HEIC files: that must be said up front, not found out as a decode error at every point.
    import pillow_heif

    real = pillow_heif.libheif_info()
    other_decoders = {"dav1d": "dav1d v1.5.3", "jpeg": "libjpeg-turbo 3.0.4 (8.0)"}
    monkeypatch.setattr(pillow_heif, "libheif_info",
                        lambda: {**real, "decoders": other_decoders})
    codec = HeicCodec()
    assert "no HEVC decoder" in codec.unavailable_reason()
    with pytest.raises(CodecUnavailableError, match="HEVC decoder"):
        codec.encode(pixels, 50)
    # libde265 or libheif's ffmpeg plugin is enough, and is what the version names.
    for plugin, description in (("libde265", "libde265 HEVC decoder, version 1.1.3"),
                                ("ffmpeg", "FFMPEG HEVC decoder 7.1")):
        monkeypatch.setattr(pillow_heif, "libheif_info", lambda p=plugin, d=description: {
            **real, "decoders": {**other_decoders, p: d}})
        codec = HeicCodec()
        assert codec.unavailable_reason() is None
        assert codec.library_version().endswith(description)


def use_fake_ffmpeg(tmp_path, monkeypatch, encoder: str) -> None:
    """An ffmpeg that lists ``encoder`` and the VVC decoder, and otherwise prints its version
    and exits 0 without writing anything."""
    fake = tmp_path / "ffmpeg"
    fake.write_text(
        "#!/bin/sh\n"
        'case "$*" in\n'
        f'  *-encoders*) echo " V....D {encoder:<20} {encoder}";;\n'
        '  *-decoders*) echo " V....D vvc                  VVC (Versatile Video Coding)";;\n'
        "  *) echo 'ffmpeg version fake';;\n"
        "esac\n"
    )
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr(vvc_module, "ffmpeg_exe", lambda: str(fake))


def test_ffmpeg_without_libvvenc_is_unavailable(tmp_path, monkeypatch, pixels):
    use_fake_ffmpeg(tmp_path, monkeypatch, "libx265")
    codec = vvc_module.VvcCodec(preset="faster")
    assert "libvvenc" in codec.unavailable_reason()
    with pytest.raises(CodecUnavailableError):
        codec.encode(pixels, 32)


def test_an_ffmpeg_that_writes_nothing_is_a_codec_error(tmp_path, monkeypatch, pixels):
    """An ffmpeg that says it has libvvenc and the VVC decoder, and exits 0 without writing
    its output, gives a CodecError for the encode and for the decode, not a FileNotFoundError."""
    use_fake_ffmpeg(tmp_path, monkeypatch, "libvvenc")
    codec = vvc_module.VvcCodec(preset="faster")
    assert codec.unavailable_reason() is None
    with pytest.raises(CodecError, match="no bitstream"):
        codec.encode(pixels, 32)
    with pytest.raises(CodecError, match="no picture"):
        codec.decode(b"\x00\x00\x00\x01" + bytes(64))


def test_a_short_decoded_frame_is_a_codec_error(tmp_path):
    frame = vvc_module.rgb_to_ycbcr420(smooth_image(32, 48, seed=1))
    vvc_module.write_y4m(tmp_path / "frame.y4m", *frame)
    whole = (tmp_path / "frame.y4m").read_bytes()
    assert all(np.array_equal(a, b) for a, b in zip(vvc_module.read_y4m(whole), frame))
    with pytest.raises(CodecError, match="shorter than a 48x32 frame"):
        vvc_module.read_y4m(whole[:-2])


def test_no_ffmpeg_binary_is_unavailable(monkeypatch):
    def missing() -> str:
        raise CodecUnavailableError("imageio-ffmpeg is not installed (pip install imageio-ffmpeg)")

    monkeypatch.setattr(vvc_module, "ffmpeg_exe", missing)
    assert "imageio-ffmpeg" in vvc_module.VvcCodec().unavailable_reason()


# --- VVC colour conversion ---------------------------------------------------------------------
def test_vvc_colour_conversion_levels():
    # Limited-range 10-bit BT.709 (ITU-T H.273): black 64, white 940, chroma zero at 512,
    # pure red has Cr = 512 + 896 * 0.5 = 960 and Y = 64 + 876 * 0.2126.
    image = np.zeros((2, 6, 3), np.uint8)
    image[:, 2:4] = 255
    image[:, 4:6] = (255, 0, 0)
    luma, cb, cr = vvc_module.rgb_to_ycbcr420(image)
    red_luma = round(64 + 876 * 0.2126)  # 250
    red_cb = round(512 - 896 * 0.2126 / (2 * (1 - 0.0722)))  # 409
    assert luma.tolist() == [[64, 64, 940, 940, red_luma, red_luma]] * 2
    assert cb.tolist() == [[512, 512, red_cb]]
    assert cr.tolist() == [[512, 512, 960]]


def test_vvc_colour_round_trip_is_exact_without_chroma_detail():
    # Grey ramps and flat colours lose nothing to 4:2:0, and 10 bits keep 8-bit values exact.
    ramp = np.repeat(np.arange(256, dtype=np.uint8), 2)[None, :, None]
    grey = np.tile(ramp, (4, 1, 3))
    assert np.array_equal(vvc_module.ycbcr420_to_rgb(*vvc_module.rgb_to_ycbcr420(grey)), grey)
    uniform = np.full((8, 8, 3), (200, 40, 90), np.uint8)
    assert np.array_equal(vvc_module.ycbcr420_to_rgb(*vvc_module.rgb_to_ycbcr420(uniform)),
                          uniform)


def test_vvc_refuses_odd_and_tiny_images(pixels):
    codec = available_or_skip("vvc-faster")
    with pytest.raises(UnsupportedImageError, match="even"):
        codec.encode(pixels[:63], 32)
    with pytest.raises(UnsupportedImageError, match="at least"):
        codec.encode(pixels[:8, :8], 32)


def test_vvc_low_qp_is_near_the_420_ceiling(pixels):
    # The whole pipeline (our conversion, ffmpeg, libvvenc, ffmpeg's decoder) must not
    # shift colours: at a low QP the PSNR approaches that of the 4:2:0 conversion alone.
    codec = available_or_skip("vvc-faster")
    ceiling = peak_signal_noise_ratio(
        pixels, vvc_module.ycbcr420_to_rgb(*vvc_module.rgb_to_ycbcr420(pixels)), data_range=255)
    decoded = codec.decode(codec.encode(pixels, 12))
    assert peak_signal_noise_ratio(pixels, decoded, data_range=255) > ceiling - 3.0


# --- quality search ----------------------------------------------------------------------------
def bpp_of(codec, pixels, quality) -> float:
    return 8 * len(codec.encode(pixels, quality)) / (pixels.shape[0] * pixels.shape[1])


@pytest.mark.parametrize("name", ["jpeg-420", "webp", "avif", "jpeg2000", "vvc-faster"])
def test_quality_search_lands_within_granularity(name, pixels):
    codec = available_or_skip(name)
    grid = codec.quality_grid()  # ordered by growing size
    middle = codec.default_qualities[len(codec.default_qualities) // 2]
    target = bpp_of(codec, pixels, middle) * 0.93  # not exactly a reachable size
    result = find_quality_for_bpp(codec, pixels, target)
    assert result.below_target and result.bpp <= target
    # The real file at that setting has that size.
    assert result.num_bytes == len(codec.encode(pixels, result.quality)) == len(result.data)
    assert math.isclose(result.bpp, 8 * result.num_bytes / (HEIGHT * WIDTH))
    # One step further (towards bigger files) is already above the target.
    position = grid.index(result.quality)
    assert bpp_of(codec, pixels, grid[position + 1]) > target
    assert result.encodes <= math.ceil(math.log2(len(grid))) + 3


def test_quality_search_reports_the_encode_time_of_the_setting_it_chose(pixels):
    """The time of the chosen setting's own encode, as the codec reports it (a codec in the
    helper process times its calls there): here, a fake whose every encode "takes" its
    quality in seconds."""
    from codec_fakes import FakeCodec

    class Timed(FakeCodec):
        def timed(self, operation, *arguments):
            result = getattr(self, operation)(*arguments)
            return result, float(arguments[1]) if operation == "encode" else 0.0

    codec = Timed()
    target = bpp_of(codec, pixels, 37) + 1e-9
    result = find_quality_for_bpp(codec, pixels, target)
    assert result.quality == 37 and result.encode_s == 37.0
    assert result.tried[-1][0] == 38  # not the time of the search's last encode


def test_quality_search_when_nothing_is_small_enough(pixels):
    jpeg = get_codec("jpeg-420")
    result = find_quality_for_bpp(jpeg, pixels, 0.001)
    assert not result.below_target
    assert result.quality == 1 and result.bpp > 0.001
    assert result.bpp == min(bpp for _, bpp in result.tried)


def test_quality_search_when_everything_fits(pixels):
    vvc = available_or_skip("vvc-faster")
    result = find_quality_for_bpp(vvc, pixels, 1000.0)
    assert result.below_target and result.quality == vvc.quality_range[0]  # lowest QP


class CountingCodec:
    """A real codec whose encodes are counted; ``cancel_after`` encodes set ``cancelled``."""

    def __init__(self, codec, cancel_after: int | None = None):
        self.codec, self.cancel_after = codec, cancel_after
        self.name, self.encodes, self.cancelled = codec.name, 0, False

    def quality_grid(self):
        return self.codec.quality_grid()

    def encode(self, pixels, quality):
        self.encodes += 1
        if self.cancel_after is not None and self.encodes >= self.cancel_after:
            self.cancelled = True
        return self.codec.encode(pixels, quality)


def test_quality_search_stops_before_the_next_encode_once_cancelled(pixels):
    jpeg = get_codec("jpeg-420")
    target = bpp_of(jpeg, pixels, 50) * 0.93
    full = CountingCodec(jpeg)
    found = find_quality_for_bpp(full, pixels, target, cancel=lambda: False)
    assert found is not None and full.encodes == found.encodes >= 6
    for stop_after in (1, 3):
        counting = CountingCodec(jpeg, cancel_after=stop_after)
        assert find_quality_for_bpp(counting, pixels, target,
                                    cancel=lambda c=counting: c.cancelled) is None
        assert counting.encodes == stop_after
    cancelled_first = CountingCodec(jpeg)
    assert find_quality_for_bpp(cancelled_first, pixels, target, cancel=lambda: True) is None
    assert cancelled_first.encodes == 0


class DippingSizes:
    """Settings 0..20 whose file sizes mostly grow but dip, as JPEG XL's and AVIF's do
    (docs/baselines.md, "Quality search"): the bytes are a file of the listed size."""

    name = "dipping"
    sizes = [40, 40, 40, 37, 50, 60, 70, 80, 90, 100, 110, 120, 130, 100, 105, 125, 135, 140,
             150, 160, 170]

    def quality_grid(self):
        return list(range(len(self.sizes)))

    def encode(self, pixels, quality):
        return bytes(self.sizes[quality])


def test_quality_search_with_sizes_that_dip(pixels):
    codec, area = DippingSizes(), HEIGHT * WIDTH
    for target_bytes in range(38, 175, 3):
        target = 8 * target_bytes / area
        result = find_quality_for_bpp(codec, pixels, target)
        # Whatever the dips, the answer is a real encode of that size, the largest tried
        # one not above the target, and it says whether it is below the target.
        assert result.num_bytes == len(result.data) == codec.sizes[result.quality]
        assert result.bpp == 8 * result.num_bytes / area
        fitting = [bpp for _, bpp in result.tried if bpp <= target]
        assert result.below_target == bool(fitting) == (result.bpp <= target)
        if fitting:
            assert result.bpp == max(fitting)
    # The documented limits: for 130 bytes the bisection answers 125 (setting 15), past
    # the dip at setting 13, although setting 12 has 130 bytes ...
    result = find_quality_for_bpp(codec, pixels, 8 * 130 / area)
    assert result.below_target and (result.quality, result.num_bytes) == (15, 125)
    # ... and below the first setting's 40 bytes "nothing fits", although setting 3 (37) would.
    result = find_quality_for_bpp(codec, pixels, 8 * 38 / area)
    assert not result.below_target and result.quality == 0 and result.encodes == 1


def test_quality_search_rejects_bad_targets(pixels):
    for target in (0, -1, float("nan"), float("inf"), True, "0.5", np.float32(-1)):
        with pytest.raises(ValueError):
            find_quality_for_bpp(get_codec("jpeg-420"), pixels, target)
    # any real number will do, NumPy's too
    assert find_quality_for_bpp(get_codec("jpeg-420"), pixels, np.float32(2.0)).below_target


def test_vvc_probe_uses_no_stdin(monkeypatch):
    # ffmpeg must never wait on a terminal: every call passes stdin=DEVNULL and a timeout.
    calls = []
    real_run = vvc_module.subprocess.run

    def spy(command, **kwargs):
        calls.append(kwargs)
        return real_run(command, **kwargs)

    monkeypatch.setattr(vvc_module.subprocess, "run", spy)
    try:
        exe = vvc_module.ffmpeg_exe()
    except CodecUnavailableError as error:
        pytest.skip(str(error))
    vvc_module.run_ffmpeg(exe, ["-version"], timeout=30)
    assert calls and all(c["stdin"] is vvc_module.subprocess.DEVNULL and c["timeout"]
                         for c in calls)
    assert os.path.exists(exe)
