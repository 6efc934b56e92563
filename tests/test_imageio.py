"""Tests of mspviewer.imageio: every odd kind of image becomes 8-bit RGB, with notes."""

from __future__ import annotations

import io
import logging
import struct
import subprocess
import sys
import textwrap
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image, ImageOps

from mspviewer import imageio
from mspviewer.errors import ImageLoadError
from mspviewer.imageio import (
    DEFAULT_MAX_PIXELS,
    LoadedImage,
    encode_rgb8,
    load_image,
    pixels_from_pil,
    save_png,
)

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


# --- helpers -----------------------------------------------------------------------------


def expected_composite(colour: np.ndarray, alpha: np.ndarray, max_value: int) -> np.ndarray:
    """round(255 (c a + 1 - a)) in float64, c and a scaled to [0, 1]."""
    c = colour.astype(np.float64) / max_value
    a = alpha.astype(np.float64)[..., None] / max_value
    return np.round(255.0 * (c * a + 1.0 - a)).astype(np.uint8)


def expected_16_to_8(values: np.ndarray) -> np.ndarray:
    return np.round(values.astype(np.float64) * 255.0 / 65535.0).astype(np.uint8)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def _paeth(left: np.ndarray, up: np.ndarray, up_left: np.ndarray) -> np.ndarray:
    estimate = left + up - up_left
    to_left, to_up, to_up_left = (np.abs(estimate - v) for v in (left, up, up_left))
    left_is_nearest = (to_left <= to_up) & (to_left <= to_up_left)
    return np.where(left_is_nearest, left, np.where(to_up <= to_up_left, up, up_left))


def png_16bit(samples: np.ndarray, colour_type: int, key: tuple[int, ...] | None = None) -> bytes:
    """A minimal writer of 16-bit PNGs (Pillow cannot write 16-bit colour PNGs).

    Rows cycle through all five PNG filter types, so the reader's unfiltering (which
    depends on the bytes per pixel) is exercised, not just the unpacking.
    """
    height, width = samples.shape[:2]
    rows = samples.astype(">u2").reshape(height, -1).view(np.uint8).astype(np.int32)
    bytes_per_pixel = rows.shape[1] // width
    no_pixel = np.zeros(bytes_per_pixel, dtype=np.int32)
    previous = np.zeros_like(rows[0])
    encoded = bytearray()
    for index, row in enumerate(rows):
        left = np.concatenate([no_pixel, row[:-bytes_per_pixel]])
        up_left = np.concatenate([no_pixel, previous[:-bytes_per_pixel]])
        filter_type = index % 5
        prediction = [0, left, previous, (left + previous) // 2, _paeth(left, previous, up_left)]
        encoded.append(filter_type)
        encoded += ((row - prediction[filter_type]) % 256).astype(np.uint8).tobytes()
        previous = row
    header = struct.pack(">IIBBBBB", width, height, 16, colour_type, 0, 0, 0)
    transparency = b"" if key is None else _png_chunk(b"tRNS", struct.pack(f">{len(key)}H", *key))
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + transparency
        + _png_chunk(b"IDAT", zlib.compress(bytes(encoded)))
        + _png_chunk(b"IEND", b"")
    )


def png_header_only(width: int, height: int) -> bytes:
    """An 8-bit RGB PNG that claims a size but holds no pixel data at all."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IEND", b"")


def marked_rgb(height: int = 4, width: int = 6) -> np.ndarray:
    """A grey image with a red top-left, green top-right and blue bottom-left pixel."""
    pixels = np.full((height, width, 3), 128, dtype=np.uint8)
    pixels[0, 0], pixels[0, -1], pixels[-1, 0] = RED, GREEN, BLUE
    return pixels


def save_with_orientation(image: Image.Image, path, orientation: int) -> None:
    exif = Image.Exif()
    exif[0x0112] = orientation
    image.save(path, exif=exif.tobytes())


def random_uint8(shape, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def random_uint16(shape, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 65536, shape, dtype=np.uint16)


# --- plain RGB, round trip, API ----------------------------------------------------------


def test_rgb_png_loads_unchanged_without_notes(tmp_path):
    pixels = random_uint8((5, 7, 3))
    path = tmp_path / "plain.png"
    save_png(pixels, path)
    loaded = load_image(path)
    assert loaded.pixels.dtype == np.uint8 and loaded.pixels.flags.c_contiguous
    np.testing.assert_array_equal(loaded.pixels, pixels)
    assert loaded.notes == ()
    assert loaded.source_mode == "RGB"
    assert loaded.path == str(path)
    assert (loaded.height, loaded.width, loaded.num_pixels) == (5, 7, 35)


@settings(max_examples=20, deadline=None)
@given(arrays(np.uint8, st.tuples(st.integers(1, 9), st.integers(1, 9), st.just(3))))
def test_encoded_png_then_load_is_lossless(pixels):
    np.testing.assert_array_equal(load_image(encode_rgb8(pixels)).pixels, pixels)


@pytest.mark.parametrize("image_format", ["PNG", "TIFF", "BMP", "PPM"])
def test_encode_rgb8_takes_any_layout_and_lossless_formats(image_format):
    pixels = random_uint8((6, 9, 3), seed=3)
    view = np.asfortranarray(pixels)[:, ::-1]  # neither C- nor F-contiguous
    with Image.open(io.BytesIO(encode_rgb8(view, image_format))) as image:
        assert image.format == image_format
        np.testing.assert_array_equal(np.asarray(image.convert("RGB")), view)


def test_a_failed_save_png_leaves_the_earlier_file(tmp_path, monkeypatch):
    # Pillow writing straight into the target would leave it truncated; save_png encodes
    # first and replaces the file only with a whole PNG.
    path = tmp_path / "kept.png"
    save_png(random_uint8((4, 4, 3), seed=1), path)
    before = path.read_bytes()

    def broken_save(image, handle, *args, **kwargs):
        handle.write(b"\x89PNG partial")
        raise OSError("disk full")

    monkeypatch.setitem(Image.SAVE, "PNG", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_png(random_uint8((8, 8, 3), seed=2), path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.png"]  # no temporary left


def test_bytes_and_pillow_image_sources(tmp_path):
    pixels = random_uint8((3, 4, 3))
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    from_bytes = load_image(buffer.getvalue())
    assert from_bytes.path is None
    np.testing.assert_array_equal(from_bytes.pixels, pixels)

    image = Image.fromarray(pixels)
    np.testing.assert_array_equal(load_image(image).pixels, pixels)
    assert image.getpixel((0, 0)) == tuple(pixels[0, 0])  # the caller's image stays usable


def test_one_by_one_image(tmp_path):
    path = tmp_path / "dot.png"
    Image.new("RGB", (1, 1), (10, 20, 30)).save(path)
    loaded = load_image(path)
    assert loaded.pixels.shape == (1, 1, 3)
    assert tuple(loaded.pixels[0, 0]) == (10, 20, 30)


def test_pixel_count_reads_the_header_only(tmp_path):
    path = tmp_path / "wide.png"
    noise = np.random.default_rng(0).integers(0, 256, (7, 300, 3), dtype=np.uint8)
    Image.fromarray(noise).save(path)
    assert imageio.pixel_count(path) == 2100
    data = path.read_bytes()
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(data[:len(data) // 2])  # the header, half the pixel data
    assert imageio.pixel_count(truncated) == 2100
    with pytest.raises(ImageLoadError):
        imageio.load_image(truncated)
    (tmp_path / "text.png").write_text("not an image")
    assert imageio.pixel_count(tmp_path / "text.png") is None
    assert imageio.pixel_count(tmp_path / "missing.png") is None


def test_bad_arguments_are_value_errors():
    image = Image.new("RGB", (2, 2))
    with pytest.raises(ValueError, match="alpha"):
        load_image(image, alpha="premultiply")
    with pytest.raises(ValueError, match="max_pixels"):
        load_image(image, max_pixels=0)
    with pytest.raises(TypeError):
        load_image(12345)  # type: ignore[arg-type]


def test_loaded_image_and_save_png_check_their_pixels(tmp_path):
    with pytest.raises(ValueError):
        LoadedImage(np.zeros((2, 2, 3), np.float32), "RGB", ())
    with pytest.raises(ValueError):
        LoadedImage(np.zeros((2, 2), np.uint8), "L", ())
    with pytest.raises(ValueError):
        save_png(np.zeros((2, 2, 4), np.uint8), tmp_path / "x.png")


def test_pixels_from_pil_applies_the_same_rules():
    image = Image.new("LA", (2, 1), (100, 0))
    pixels, notes = pixels_from_pil(image)
    np.testing.assert_array_equal(pixels, np.full((1, 2, 3), 255, np.uint8))
    assert "alpha composited on white" in notes
    assert "greyscale expanded to RGB" in notes


# --- grey, 1-bit, palettes ---------------------------------------------------------------


def test_grey_l_is_expanded(tmp_path):
    grey = random_uint8((4, 5))
    path = tmp_path / "grey.png"
    Image.fromarray(grey).save(path)
    loaded = load_image(path)
    assert loaded.source_mode == "L"
    np.testing.assert_array_equal(loaded.pixels, np.repeat(grey[:, :, None], 3, axis=2))
    assert loaded.notes == ("greyscale expanded to RGB",)


def test_one_bit_becomes_black_and_white(tmp_path):
    bits = np.array([[0, 1, 1], [1, 0, 0]], dtype=bool)
    path = tmp_path / "bits.png"
    Image.fromarray(bits).save(path)
    loaded = load_image(path)
    assert loaded.source_mode == "1"
    np.testing.assert_array_equal(loaded.pixels[:, :, 1], bits.astype(np.uint8) * 255)
    assert any("1-bit" in note for note in loaded.notes)


def _palette_image_with_transparent_index(path):
    image = Image.new("P", (3, 1))
    image.putpalette([*RED, *GREEN, 0, 0, 0] + [0] * (256 - 3) * 3)
    image.putdata([0, 1, 2])
    image.save(path, transparency=2)  # index 2, stored colour black, is transparent


def test_palette_with_transparency_composite_and_drop(tmp_path):
    path = tmp_path / "palette.png"
    _palette_image_with_transparent_index(path)
    composited = load_image(path)
    assert composited.source_mode == "P"
    assert [tuple(p) for p in composited.pixels[0]] == [RED, GREEN, WHITE]
    assert "palette expanded" in composited.notes
    assert "alpha composited on white" in composited.notes

    dropped = load_image(path, alpha="drop")
    assert [tuple(p) for p in dropped.pixels[0]] == [RED, GREEN, (0, 0, 0)]
    assert "alpha channel dropped" in dropped.notes


def test_palette_without_transparency(tmp_path):
    path = tmp_path / "palette.gif"
    Image.fromarray(marked_rgb()).convert("P").save(path)
    loaded = load_image(path)
    assert loaded.source_mode == "P"
    assert tuple(loaded.pixels[0, 0]) == RED
    assert loaded.notes == ("palette expanded",)


def test_rgb_colour_key_becomes_transparent(tmp_path):
    pixels = marked_rgb()
    path = tmp_path / "keyed.png"
    Image.fromarray(pixels).save(path, transparency=GREEN)
    loaded = load_image(path)
    assert tuple(loaded.pixels[0, -1]) == WHITE  # the green pixel was the key
    assert tuple(loaded.pixels[0, 0]) == RED


def low_depth_grey_png(levels: np.ndarray, bits: int, key: int) -> bytes:
    """A grey PNG of ``bits`` (1, 2 or 4) per sample with a tRNS colour key ``key`` (in the
    file's own 0 … 2**bits − 1 scale), written by hand: Pillow cannot write these."""
    height, width = levels.shape
    per_byte = 8 // bits
    rows = bytearray()
    for row in levels:
        padded = np.concatenate([row, np.zeros(-width % per_byte, dtype=row.dtype)])
        packed = [sum(int(v) << (8 - bits * (i + 1)) for i, v in enumerate(group))
                  for group in padded.reshape(-1, per_byte)]
        rows += bytes([0] + packed)  # filter type 0 (none)
    header = struct.pack(">IIBBBBB", width, height, bits, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header)
            + _png_chunk(b"tRNS", struct.pack(">H", key))
            + _png_chunk(b"IDAT", zlib.compress(bytes(rows))) + _png_chunk(b"IEND", b""))


@pytest.mark.parametrize("bits", [1, 2, 4])
def test_grey_colour_key_of_a_low_bit_depth_png_becomes_transparent(tmp_path, bits):
    """Pillow scales 1/2/4-bit samples to 0…255 but keeps the key in the file's scale: the key
    must be scaled too (it was dropped for 1 bit and never matched for 2 and 4)."""
    top = 2 ** bits - 1
    key = 0 if bits == 1 else 1  # black, or the first level above it (85 or 17 in 8 bits)
    levels = np.array([[0, top, 1], [top, 0, 1]], dtype=np.uint8)
    path = tmp_path / f"grey{bits}.png"
    path.write_bytes(low_depth_grey_png(levels, bits, key=key))
    grey = np.rint(levels * (255 / top)).astype(np.uint8)
    composited = load_image(path, alpha="composite")  # transparent pixels become white
    assert np.array_equal(composited.pixels[..., 0], np.where(levels == key, 255, grey))
    assert any("colour key" in note for note in composited.notes), composited.notes
    dropped = load_image(path, alpha="drop")  # the samples themselves, black kept
    assert np.array_equal(dropped.pixels[..., 0], grey)


# --- CMYK and other colour models --------------------------------------------------------


def test_cmyk_jpeg_is_converted_like_pillow(tmp_path):
    path = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (16, 16), (255, 0, 0, 0)).save(path, quality=95)  # pure cyan ink
    loaded = load_image(path)
    assert loaded.source_mode == "CMYK"
    with Image.open(path) as reference:
        np.testing.assert_array_equal(loaded.pixels, np.asarray(reference.convert("RGB")))
    red, green, blue = loaded.pixels[8, 8].astype(int)
    assert red < 20 and green > 235 and blue > 235
    assert any("CMYK" in note for note in loaded.notes)


def test_16bit_cmyk_tiff_says_it_was_reduced_to_8_bits(tmp_path):
    """Pillow has no 16-bit CMYK: it keeps each sample's high byte. The pixels are what an
    8-bit CMYK TIFF of those high bytes gives, and the notes say so (not a silent loss)."""
    import tifffile

    rng = np.random.default_rng(3)
    ink = rng.integers(0, 65536, size=(6, 5, 4), dtype=np.uint16)
    deep, shallow = tmp_path / "cmyk16.tif", tmp_path / "cmyk8.tif"
    tifffile.imwrite(deep, ink, photometric="separated")
    tifffile.imwrite(shallow, (ink >> 8).astype(np.uint8), photometric="separated")
    loaded, reference = load_image(deep), load_image(shallow)
    assert loaded.source_mode == "CMYK"
    assert np.abs(loaded.pixels.astype(int) - reference.pixels.astype(int)).max() <= 2
    assert any("16-bit CMYK TIFF reduced to 8 bits" in note for note in loaded.notes)
    assert not any("16-bit" in note for note in reference.notes)


@pytest.mark.parametrize("dtype, shape", [("float16", (4, 5)), ("float64", (4, 5)),
                                          ("float32", (4, 5, 3))])
def test_a_tiff_of_unsupported_samples_is_named_as_such(tmp_path, dtype, shape):
    """Pillow cannot open these TIFFs at all; the error says what the file holds instead of
    calling it "not an image", from a path and from bytes alike."""
    import tifffile

    path = tmp_path / "samples.tif"
    samples = shape[2] if len(shape) == 3 else 1
    tifffile.imwrite(path, np.zeros(shape, dtype=dtype),
                     photometric="rgb" if samples == 3 else "minisblack")
    for source in (path, path.read_bytes()):
        with pytest.raises(ImageLoadError, match=f"a TIFF of {samples} {dtype} sample"):
            load_image(source)
    (tmp_path / "damaged.tif").write_bytes(b"II*\0" + b"\xff" * 20)
    with pytest.raises(ImageLoadError, match="not an image"), \
            pytest.warns(UserWarning, match="Corrupt EXIF"):  # Pillow's, on the way
        load_image(tmp_path / "damaged.tif")


@pytest.mark.parametrize("mode", ["YCbCr", "LAB", "HSV", "RGBX"])
def test_other_colour_models_are_converted_by_pillow(mode):
    image = Image.fromarray(random_uint8((3, 4, 3))).convert(mode)
    loaded = load_image(image)
    assert loaded.source_mode == mode
    np.testing.assert_array_equal(loaded.pixels, np.asarray(image.convert("RGB")))
    assert len(loaded.notes) == 1


def test_premultiplied_and_palette_alpha_modes():
    """Premultiplied samples p over white give p + 255 − alpha; a palette colour c with
    alpha a gives c·a/255 + 255 − a: computed here from those formulas, not by Pillow."""
    premultiplied = [(64, 32, 0, 128), (10, 20, 30, 30), (0, 0, 0, 0)]
    image = Image.new("RGBa", (3, 1))
    image.putdata(premultiplied)
    loaded = load_image(image)
    expected = [[p + 255 - a for p in (r, g, b)] for r, g, b, a in premultiplied]
    assert loaded.pixels[0].tolist() == expected
    assert {"premultiplied alpha un-premultiplied", "alpha composited on white"} \
        <= set(loaded.notes)

    image = Image.new("La", (2, 1))
    image.putdata([(64, 128), (10, 30)])
    assert load_image(image).pixels[0].tolist() == [[191] * 3, [235] * 3]

    colour, alphas = (200, 100, 50), (255, 0, 128)
    image = Image.new("PA", (3, 1))
    image.putpalette(list(colour) + [0] * 765)
    image.putdata([(0, a) for a in alphas])
    loaded = load_image(image)
    assert loaded.pixels[0].tolist() == [[round(c * a / 255 + 255 - a) for c in colour]
                                         for a in alphas]
    assert "alpha composited on white" in loaded.notes


# --- bit depths --------------------------------------------------------------------------


def test_16bit_grey_png_is_rounded_not_truncated(tmp_path):
    # 129/257 rounds up to 1 but truncates to 0; 1000/257 = 3.89 -> 4; 128/257 -> 0.
    grey = np.array([[0, 128, 129, 1000], [32767, 32768, 65407, 65535]], dtype=np.uint16)
    path = tmp_path / "grey16.png"
    Image.fromarray(grey).save(path)
    loaded = load_image(path)
    assert loaded.source_mode.startswith("I;16")
    np.testing.assert_array_equal(loaded.pixels[:, :, 0], expected_16_to_8(grey))
    assert list(loaded.pixels[0, :, 0]) == [0, 0, 1, 4]
    assert "16-bit samples reduced to 8 bits (rounded)" in loaded.notes


def test_48bit_rgb_png_keeps_all_16_bits(tmp_path):
    samples = random_uint16((9, 11, 3))
    samples[0, 0] = (129, 1000, 65280)  # the high byte alone would give 0, 3, 255
    path = tmp_path / "rgb48.png"
    path.write_bytes(png_16bit(samples, colour_type=2))
    with Image.open(path) as pillow_alone:  # what Pillow does by itself: the high byte
        assert pillow_alone.mode == "RGB"
        np.testing.assert_array_equal(np.asarray(pillow_alone), samples >> 8)
    loaded = load_image(path)
    np.testing.assert_array_equal(loaded.pixels, expected_16_to_8(samples))
    assert tuple(loaded.pixels[0, 0]) == (1, 4, 254)
    assert loaded.notes == ("16-bit samples reduced to 8 bits (rounded)",)


def test_16bit_colour_key_matches_all_16_bits_and_is_never_matched_on_high_bytes():
    samples = random_uint16((5, 7, 3), seed=4)
    key = (4660, 22136, 39612)
    samples[0, 0] = key
    samples[0, 1] = (4660 + 1, 22136, 39612)  # the same high bytes, another colour
    data = png_16bit(samples, colour_type=2, key=key)
    from_file = load_image(data)
    assert tuple(from_file.pixels[0, 0]) == WHITE  # transparent, composited on white
    np.testing.assert_array_equal(from_file.pixels[0, 1], expected_16_to_8(samples[0, 1]))
    # An already open Pillow image holds the high bytes only: the key cannot be matched
    # exactly, so it is ignored (with a note), not matched against 256 colours at a time.
    with Image.open(io.BytesIO(data)) as image:
        pixels, notes = pixels_from_pil(image)
    np.testing.assert_array_equal(pixels, samples >> 8)
    assert any("colour key was ignored" in note for note in notes), notes


def test_64bit_rgba_png_is_composited_from_16_bits():
    samples = random_uint16((6, 5, 4), seed=1)
    samples[0, 0, 3] = 0
    loaded = load_image(png_16bit(samples, colour_type=6))
    expected = expected_composite(samples[..., :3], samples[..., 3], 65535)
    np.testing.assert_array_equal(loaded.pixels, expected)
    assert tuple(loaded.pixels[0, 0]) == WHITE


def test_32bit_grey_alpha_png_is_read_in_full():
    samples = random_uint16((5, 6, 2), seed=2)
    loaded = load_image(png_16bit(samples, colour_type=4))
    expected = expected_composite(samples[..., :1], samples[..., 1], 65535)
    np.testing.assert_array_equal(loaded.pixels, np.repeat(expected, 3, axis=2))
    dropped = load_image(png_16bit(samples, colour_type=4), alpha="drop")
    np.testing.assert_array_equal(dropped.pixels[..., 0], expected_16_to_8(samples[..., 0]))


def _tiff_16bit(path, samples, planar, compression, byteorder="<"):
    """A 16-bit RGB(A) TIFF written by tifffile, a writer independent of Pillow."""
    import tifffile

    data = samples if planar == "contig" else np.ascontiguousarray(samples.transpose(2, 0, 1))
    extra = {"extrasamples": ["unassalpha"]} if samples.shape[2] == 4 else {}
    tifffile.imwrite(path, data, photometric="rgb", planarconfig=planar, rowsperstrip=4,
                     compression=compression, byteorder=byteorder, **extra)


@pytest.mark.parametrize("planar", ["contig", "separate"])
@pytest.mark.parametrize("compression", [None, "zlib"])
@pytest.mark.parametrize("byteorder", ["<", ">"])
def test_48_and_64bit_tiffs_keep_all_16_bits(tmp_path, planar, compression, byteorder):
    """Pillow keeps the high byte of these, and scrambles the planes of an uncompressed
    plane-by-plane one; the loader rounds all 16 bits like for PNG."""
    rgb = random_uint16((9, 11, 3), seed=3)
    rgb[0, 0] = (129, 1000, 65280)  # the high byte alone would give 0, 3, 255
    _tiff_16bit(tmp_path / "rgb.tif", rgb, planar, compression, byteorder)
    loaded = load_image(tmp_path / "rgb.tif")
    np.testing.assert_array_equal(loaded.pixels, expected_16_to_8(rgb))
    assert tuple(loaded.pixels[0, 0]) == (1, 4, 254)
    assert loaded.notes == ("16-bit samples reduced to 8 bits (rounded)",)
    rgba = random_uint16((6, 5, 4), seed=4)
    _tiff_16bit(tmp_path / "rgba.tif", rgba, planar, compression, byteorder)
    np.testing.assert_array_equal(load_image(tmp_path / "rgba.tif").pixels,
                                  expected_composite(rgba[..., :3], rgba[..., 3], 65535))


@pytest.mark.parametrize("planar", ["contig", "separate"])
def test_a_16bit_tiff_that_tifffile_cannot_read_is_noted_or_refused(tmp_path, monkeypatch,
                                                                     planar):
    """As for an LZW TIFF without imagecodecs: Pillow's high bytes where they are right,
    a clear refusal where Pillow would scramble the planes."""
    import tifffile

    def unreadable(*args, **kwargs):
        raise ValueError("requires the 'imagecodecs' package")

    rgb = random_uint16((8, 8, 3), seed=5)
    _tiff_16bit(tmp_path / "rgb.tif", rgb, planar, None)
    monkeypatch.setattr(tifffile, "TiffFile", unreadable)
    if planar == "separate":
        with pytest.raises(ImageLoadError, match="plane by plane"):
            load_image(tmp_path / "rgb.tif")
        return
    loaded = load_image(tmp_path / "rgb.tif")
    np.testing.assert_array_equal(loaded.pixels, rgb >> 8)
    assert "16-bit TIFF reduced to 8 bits by Pillow (truncated, not rounded)" in loaded.notes


def test_16bit_png_given_as_pillow_image_is_noted_as_truncated():
    samples = random_uint16((3, 3, 3))
    with Image.open(io.BytesIO(png_16bit(samples, colour_type=2))) as image:
        loaded = load_image(image)
    np.testing.assert_array_equal(loaded.pixels, samples >> 8)
    assert any("truncated" in note for note in loaded.notes)


def test_float_images_are_read_as_0_1_or_0_255():
    unit = np.array([[0.0, 0.5, 1.0]], dtype=np.float32)
    loaded = load_image(Image.fromarray(unit))
    assert loaded.source_mode == "F"
    assert list(loaded.pixels[0, :, 0]) == [0, 128, 255]
    assert any("[0, 1]" in note for note in loaded.notes)

    byte_scale = np.array([[0.0, 2.0, 254.6, 300.0]], dtype=np.float32)
    assert list(load_image(Image.fromarray(byte_scale)).pixels[0, :, 0]) == [0, 2, 255, 255]


def test_non_finite_float_samples_do_not_change_the_range():
    """One +inf among [0, 1] samples once made the image read as [0, 255]: almost black."""
    unit = np.array([[np.inf, 0.5, 1.0, np.nan, -np.inf, 0.25]], dtype=np.float32)
    loaded = load_image(Image.fromarray(unit))
    assert list(loaded.pixels[0, :, 0]) == [255, 128, 255, 0, 0, 64]
    assert any("[0, 1]" in note for note in loaded.notes)
    assert any("3 non-finite" in note for note in loaded.notes)
    byte_scale = np.array([[np.inf, 128.0, 2.0]], dtype=np.float32)
    assert list(load_image(Image.fromarray(byte_scale)).pixels[0, :, 0]) == [255, 128, 2]
    all_nan = np.full((2, 2), np.nan, dtype=np.float32)
    assert not load_image(Image.fromarray(all_nan)).pixels.any()


def test_32bit_integer_and_big_endian_16bit_grey():
    values = np.array([[-5, 257, 70000]], dtype=np.int32)
    assert list(load_image(Image.fromarray(values)).pixels[0, :, 0]) == [0, 1, 255]
    big_endian = Image.new("I;16B", (1, 1), 1000)
    assert load_image(big_endian).pixels[0, 0, 0] == 4


@pytest.mark.parametrize("byteorder, compression", [("<", None), (">", None), ("<", "zlib")])
def test_signed_16bit_tiff_keeps_its_whole_range(tmp_path, byteorder, compression):
    """Pillow reads SampleFormat 2 as mode I: clipping at 0 would turn every negative sample
    black and leave the image at most half bright. −32768..32767 is shifted to 0..65535."""
    import tifffile

    values = np.array([[-32768, -1, 0, 1, 32767]], dtype=np.int16)
    path = tmp_path / "signed.tif"
    tifffile.imwrite(path, values, byteorder=byteorder, compression=compression)
    loaded = load_image(path)
    expected = np.rint((values[0].astype(np.float64) + 32768) * 255 / 65535)
    assert list(loaded.pixels[0, :, 0]) == list(expected) == [0, 127, 128, 128, 255]
    assert any("signed 16-bit" in note for note in loaded.notes)
    assert not any("clipped" in note for note in loaded.notes)


# --- alpha -------------------------------------------------------------------------------


def test_rgba_partial_alpha_is_composited_on_white(tmp_path):
    rgba = random_uint8((6, 7, 4), seed=3)
    rgba[0, 0, 3], rgba[0, 1, 3] = 0, 255
    path = tmp_path / "rgba.png"
    Image.fromarray(rgba).save(path)
    loaded = load_image(path)
    assert loaded.source_mode == "RGBA"
    # 8-bit form of the formula: round(C A / 255 + 255 - A).
    colour, alpha = rgba[..., :3].astype(np.float64), rgba[..., 3:].astype(np.float64)
    expected = np.round(colour * alpha / 255 + 255 - alpha).astype(np.uint8)
    np.testing.assert_array_equal(loaded.pixels, expected)
    assert tuple(loaded.pixels[0, 0]) == WHITE
    assert tuple(loaded.pixels[0, 1]) == tuple(rgba[0, 1, :3])
    assert loaded.notes == ("alpha composited on white",)

    dropped = load_image(path, alpha="drop")
    np.testing.assert_array_equal(dropped.pixels, rgba[..., :3])
    assert dropped.notes == ("alpha channel dropped",)


def test_compositing_in_bands_gives_the_same_pixels(monkeypatch):
    rgba = random_uint8((9, 5, 4), seed=6)
    whole = load_image(Image.fromarray(rgba)).pixels
    monkeypatch.setattr(imageio.colour, "_COMPOSITE_BAND_PIXELS", 7)  # one row per band
    np.testing.assert_array_equal(load_image(Image.fromarray(rgba)).pixels, whole)


def test_fully_opaque_alpha_is_dropped_with_a_note(tmp_path):
    rgba = random_uint8((4, 4, 4))
    rgba[..., 3] = 255
    path = tmp_path / "opaque.png"
    Image.fromarray(rgba).save(path)
    loaded = load_image(path)
    np.testing.assert_array_equal(loaded.pixels, rgba[..., :3])
    assert loaded.notes == ("fully opaque alpha channel dropped",)


def test_grey_with_alpha(tmp_path):
    la = random_uint8((3, 5, 2), seed=4)
    path = tmp_path / "la.png"
    Image.fromarray(la).save(path)
    loaded = load_image(path)
    assert loaded.source_mode == "LA"
    expected = expected_composite(la[..., :1], la[..., 1], 255)
    np.testing.assert_array_equal(loaded.pixels, np.repeat(expected, 3, axis=2))
    assert loaded.notes == ("alpha composited on white", "greyscale expanded to RGB")


# --- EXIF orientation --------------------------------------------------------------------


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_matches_pillow_exif_transpose(tmp_path, orientation):
    path = tmp_path / f"o{orientation}.png"
    save_with_orientation(Image.fromarray(marked_rgb()), path, orientation)
    with Image.open(path) as image:
        expected = np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
    loaded = load_image(path)
    np.testing.assert_array_equal(loaded.pixels, expected)
    assert any(f"EXIF orientation {orientation}" in n for n in loaded.notes) == (orientation != 1)


@pytest.mark.parametrize(
    ("orientation", "shape", "red_at"),
    [
        (3, (4, 6, 3), (3, 5)),  # rotate 180°: top-left goes to bottom-right
        (6, (6, 4, 3), (0, 3)),  # rotate 90° clockwise: top-left goes to top-right
        (8, (6, 4, 3), (5, 0)),  # rotate 90° counter-clockwise: top-left goes to bottom-left
    ],
)
def test_exif_orientation_moves_the_marked_corner(tmp_path, orientation, shape, red_at):
    path = tmp_path / "marked.png"
    save_with_orientation(Image.fromarray(marked_rgb(4, 6)), path, orientation)
    loaded = load_image(path)
    assert loaded.pixels.shape == shape
    assert tuple(loaded.pixels[red_at]) == RED
    assert loaded.pixels.flags.c_contiguous


def test_exif_orientation_in_jpeg(tmp_path):
    pixels = np.full((32, 48, 3), 128, dtype=np.uint8)
    pixels[:16, :16] = RED  # a block large enough to survive JPEG
    path = tmp_path / "marked.jpg"
    save_with_orientation(Image.fromarray(pixels), path, 6)
    loaded = load_image(path)
    assert loaded.pixels.shape == (48, 32, 3)
    red, green, blue = loaded.pixels[4, -4].astype(int)  # top-right after 90° clockwise
    assert red > 200 and green < 60 and blue < 60
    assert "EXIF orientation 6 applied (rotated 90° clockwise)" in loaded.notes


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("bits", [8, 16])
def test_exif_orientation_in_tiff_is_applied_once_and_noted(tmp_path, orientation, bits):
    """Pillow's TIFF reader turns the pixels itself (and drops the tag) as it decodes, and
    gives the turned size before decoding: a 16-bit colour TIFF with orientation 5-8 was
    refused (tifffile's stored size did not match), and an 8-bit one lost its note."""
    import tifffile

    samples = random_uint16((5, 7, 3), seed=orientation) if bits == 16 else marked_rgb(5, 7)
    path = tmp_path / f"o{orientation}.tif"
    tifffile.imwrite(path, samples, photometric="rgb",
                     extratags=[(0x0112, "H", 1, orientation, True)])
    stored = expected_16_to_8(samples) if bits == 16 else samples
    with Image.open(io.BytesIO(png_with_orientation(stored, orientation))) as image:
        expected = np.asarray(ImageOps.exif_transpose(image))
    loaded = load_image(path)
    np.testing.assert_array_equal(loaded.pixels, expected)
    assert any(f"EXIF orientation {orientation}" in n for n in loaded.notes) == (orientation != 1)


def png_with_orientation(pixels: np.ndarray, orientation: int) -> bytes:
    out = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(pixels).save(out, format="PNG", exif=exif.tobytes())
    return out.getvalue()


# --- multi-frame -------------------------------------------------------------------------


def test_multi_frame_gif_uses_the_first_frame(tmp_path):
    path = tmp_path / "anim.gif"
    frames = [Image.new("RGB", (4, 4), colour) for colour in (RED, GREEN, BLUE)]
    frames[0].save(path, save_all=True, append_images=frames[1:])
    loaded = load_image(path)
    assert tuple(loaded.pixels[0, 0]) == RED
    assert "first of 3 frames used" in loaded.notes


# --- refusals and errors -----------------------------------------------------------------


def test_image_above_max_pixels_is_refused_before_decoding(tmp_path):
    # 9000 x 8000 = 72,000,000 > 64 Mi; the file holds no pixel data, so only a check on
    # the header can produce the size message (decoding would fail differently).
    path = tmp_path / "huge.png"
    path.write_bytes(png_header_only(9000, 8000))
    with pytest.raises(ImageLoadError) as error:
        load_image(path)
    message = str(error.value)
    assert "72,000,000" in message and f"{DEFAULT_MAX_PIXELS:,}" in message
    assert "9000 x 8000" in message and str(path) in message


def test_max_pixels_is_per_call(tmp_path):
    path = tmp_path / "small.png"
    Image.new("RGB", (10, 10)).save(path)
    with pytest.raises(ImageLoadError, match="100 pixels is more than the limit of 99 pixels"):
        load_image(path, max_pixels=99)
    assert load_image(path, max_pixels=100).num_pixels == 100


def test_pillow_decompression_bomb_is_reported_as_load_error(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(png_header_only(20000, 20000))
    with pytest.raises(ImageLoadError) as error:
        load_image(path, max_pixels=10**9)
    assert "400000000" in str(error.value) and str(path) in str(error.value)


def _assert_clear_error(source, path_text: str, *words: str) -> None:
    with pytest.raises(ImageLoadError) as error:
        load_image(source)
    message = str(error.value)
    assert "\n" not in message
    assert path_text in message
    for word in words:
        assert word in message


def test_truncated_png(tmp_path):
    buffer = io.BytesIO()
    Image.fromarray(random_uint8((64, 64, 3))).save(buffer, format="PNG")
    path = tmp_path / "truncated.png"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    _assert_clear_error(path, str(path), "corrupt")


def test_random_bytes(tmp_path):
    path = tmp_path / "noise.png"
    path.write_bytes(np.random.default_rng(5).bytes(4096))
    _assert_clear_error(path, str(path))


def test_empty_file(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    _assert_clear_error(path, str(path), "empty")
    _assert_clear_error(b"", "from memory (0 bytes)", "empty")


def test_text_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("This is not an image.\n" * 20)
    _assert_clear_error(path, str(path), "not an image")


def test_missing_file_and_directory(tmp_path):
    _assert_clear_error(tmp_path / "missing.png", "missing.png", "not found")
    _assert_clear_error(tmp_path, str(tmp_path), "directory")


# --- what tifffile says about a damaged TIFF ---------------------------------------------


def _damaged_16bit_tiff(path) -> np.ndarray:
    """A 16-bit RGB TIFF whose XResolution tag points past the end of the file: Pillow and
    tifffile both read its pixels, and tifffile logs "invalid value offset"."""
    import tifffile

    rgb = random_uint16((4, 6, 3), seed=11)
    tifffile.imwrite(path, rgb, photometric="rgb", resolution=(72, 72), byteorder="<")
    with tifffile.TiffFile(path) as tiff:
        entry = tiff.pages[0].tags["XResolution"].offset  # code, type, count, value offset
    data = bytearray(path.read_bytes())
    struct.pack_into("<I", data, entry + 8, len(data) + 1000)
    path.write_bytes(bytes(data))
    return rgb


@pytest.mark.filterwarnings("ignore:Truncated File Read:UserWarning")  # Pillow's, expected
def test_a_damaged_16bit_tiff_logs_nothing(tmp_path, capfd, caplog):
    """tifffile's complaints go to the `tifffile` logger, which prints them on stderr when
    nothing else handles them; the command line promises one error line, so the loader
    keeps that logger quiet while it reads."""
    rgb = _damaged_16bit_tiff(tmp_path / "damaged.tif")
    with caplog.at_level(logging.DEBUG):
        try:
            loaded = load_image(tmp_path / "damaged.tif")
        except ImageLoadError as error:  # also acceptable, as one line
            assert "\n" not in str(error)
        else:
            np.testing.assert_array_equal(loaded.pixels, expected_16_to_8(rgb))
    assert [r for r in caplog.records if r.name.startswith("tifffile")] == []
    assert capfd.readouterr().err == ""
    assert not logging.getLogger("tifffile").disabled  # the guard puts it back


def test_a_damaged_16bit_tiff_prints_nothing_on_stderr_outside_pytest(tmp_path):
    """The same in a plain process (no pytest log handlers, so the root logger's last-resort
    handler would print), with the command line's filter of Pillow's warnings."""
    _damaged_16bit_tiff(tmp_path / "damaged.tif")
    script = textwrap.dedent("""
        import sys, warnings
        warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\\.")
        from mspviewer.errors import ImageLoadError
        from mspviewer.imageio import load_image
        try:
            load_image(sys.argv[1])
        except ImageLoadError:
            pass
        print("ok")
    """)
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "damaged.tif")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
    assert done.stderr == ""


# --- optional readers: JPEG XL and HEIC ---------------------------------------------------


def _jxl_file(path, pixels: np.ndarray) -> np.ndarray:
    pytest.importorskip("pillow_jxl", reason="pillow-jxl-plugin is not installed")
    Image.fromarray(pixels).save(path, format="JXL", lossless=True)
    return pixels  # lossless


def _heic_file(path, pixels: np.ndarray) -> np.ndarray:
    pillow_heif = pytest.importorskip("pillow_heif", reason="pillow-heif is not installed")
    if "x265" not in pillow_heif.libheif_info().get("encoders", {}):
        pytest.skip("pillow-heif has no HEVC encoder")
    height, width = pixels.shape[:2]
    pillow_heif.from_bytes("RGB", (width, height), pixels.tobytes()).save(path, quality=90)
    return np.asarray(pillow_heif.open_heif(path, convert_hdr_to_8bit=True))  # lossy


@pytest.mark.parametrize("name, write", [("image.jxl", _jxl_file), ("image.heic", _heic_file)])
def test_optional_formats_load_without_any_baseline_imported(tmp_path, name, write):
    """imageio registers the JPEG XL and HEIF readers itself: in a fresh process that never
    imports mspviewer.baselines (whose JPEG XL probe registers JXL as a side effect), and
    where Pillow does not know the format beforehand, both the size and the pixels read."""
    pixels = random_uint8((10, 14, 3), seed=12)
    path = tmp_path / name
    expected = write(path, pixels)
    script = textwrap.dedent("""
        import sys
        import numpy as np
        from PIL import Image
        from mspviewer.imageio import load_image, pixel_count
        Image.init()
        assert not {"JXL", "HEIF"} & set(Image.OPEN), sorted(Image.OPEN)
        print(pixel_count(sys.argv[1]))
        loaded = load_image(sys.argv[1])
        np.save(sys.argv[2], loaded.pixels)
        print(repr(loaded.notes))
        assert not [m for m in sys.modules if m.startswith("mspviewer.baselines")]
    """)
    done = subprocess.run([sys.executable, "-c", script, str(path), str(tmp_path / "out.npy")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["140", "()"]
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), expected)


def test_heic_rotation_is_applied_once_and_noted(tmp_path):
    """pillow-heif turns a HEIC by its container's rotation as it opens it and resets the
    EXIF orientation to 1: the loader keeps that turn, does not turn again, and notes it."""
    pixels = np.zeros((16, 24, 3), np.uint8)
    pixels[:8, :8] = 255  # a white block in the top-left corner
    path = tmp_path / "turned.heic"
    _heic_file(path, pixels)  # skips where pillow-heif or its encoder is missing
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    Image.open(path).save(path, exif=exif.tobytes(), quality=95)

    loaded = load_image(path)

    assert loaded.pixels.shape == (24, 16, 3)
    # Turned clockwise, the top-left block lands in the top-right corner.
    assert loaded.pixels[:8, 8:].min() > 200 and loaded.pixels[:8, :8].max() < 60
    assert loaded.pixels[8:].max() < 60
    assert loaded.notes == ("EXIF orientation 6 applied (rotated 90° clockwise)",)


# --- embedded ICC profiles ----------------------------------------------------------------


def _png_with_profile(pixels: np.ndarray, icc: bytes) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", icc_profile=icc)
    return buffer.getvalue()


def _built_in_profile(name: str) -> bytes:
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile(name)).tobytes()


@pytest.mark.parametrize("name, description", [("LAB", "Lab identity built-in"),
                                               ("XYZ", "XYZ identity built-in")])
def test_a_non_srgb_icc_profile_is_noted_not_applied(name, description):
    pixels = random_uint8((5, 7, 3), seed=13)
    loaded = load_image(_png_with_profile(pixels, _built_in_profile(name)))
    np.testing.assert_array_equal(loaded.pixels, pixels)
    assert loaded.notes == (f"embedded ICC profile '{description}' not applied: pixels used "
                            f"as stored (as sRGB)",)


def test_an_srgb_icc_profile_needs_no_note():
    pixels = random_uint8((5, 7, 3), seed=14)
    loaded = load_image(_png_with_profile(pixels, _built_in_profile("sRGB")))
    np.testing.assert_array_equal(loaded.pixels, pixels)
    assert loaded.notes == ()


def test_an_unreadable_icc_profile_is_noted_and_the_pixels_load():
    pixels = random_uint8((5, 7, 3), seed=15)
    loaded = load_image(_png_with_profile(pixels, b"not an ICC profile" * 20))
    np.testing.assert_array_equal(loaded.pixels, pixels)
    assert loaded.notes == ("an embedded ICC profile (unreadable) not applied",)


def test_a_profile_on_an_image_pillow_converts_is_noted_without_used_as_stored(tmp_path):
    """A CMYK image is converted by Pillow's plain formula (its note says so): its profile
    is noted as not applied, not as "used as stored"."""
    path = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (8, 8), (0, 128, 255, 0)).save(path, quality=95,
                                                      icc_profile=_built_in_profile("LAB"))
    assert load_image(path).notes == ("CMYK converted to RGB (plain formula, no colour profile)",
                                      "embedded ICC profile 'Lab identity built-in' not applied")


def test_the_lab_profile_pillow_attaches_to_a_lab_image_is_not_noted():
    """Image.convert("LAB") attaches Pillow's Lab profile, the very Lab its conversion back
    to RGB assumes."""
    image = Image.fromarray(random_uint8((3, 4, 3))).convert("LAB")
    assert image.info.get("icc_profile")
    assert load_image(image).notes == ("CIE L*a*b* converted to RGB",)
