"""Corrupt, truncated, empty, random and foreign bitstreams end in a clear error."""

from __future__ import annotations

import dataclasses
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import amplify_analysis, smooth_image
from mspviewer.codec import bitstream, build_random_model, decode_bytes, encode_image, tiny_config
from mspviewer.errors import BitstreamError, ChecksumError, WrongModelError

LAM = 0.0067


@pytest.fixture(scope="module")
def fuzz_model():
    # The smallest model with every kind of pass (coarsest, step A, step B) on a 2×2 latent,
    # on one thread: each of the 10,000 decode attempts then takes a few milliseconds.
    # Amplified (conftest.amplify_analysis), so that its symbols are not all 0 and the
    # payload is more than one word.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield amplify_analysis(build_random_model(
        tiny_config(num_scales=2, num_groups=1, context_width=4, group_width=4,
                    coarsest_width=4), seed=11))
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def reference(fuzz_model):
    pixels = smooth_image(32, 32, seed=2)
    encoded = encode_image(fuzz_model, pixels, LAM)
    return encoded.bitstream, encoded.reconstruction


def _fix_header_crc(data: bytearray) -> bytearray:
    """Recompute the header CRC so a mutation gets past the first check and reaches the
    deeper ones (section sizes, model identity, symbols checksum)."""
    body_length = struct.unpack_from("<H", data, 5)[0]
    end = 7 + body_length
    if len(data) >= end + 4:
        data[end:end + 4] = struct.pack("<I", zlib.crc32(bytes(data[:end])))
    return data


@st.composite
def mutated_streams(draw, original: bytes):
    data = bytearray(original)
    kind = draw(st.sampled_from(["flip", "bytes", "truncate", "extend", "random", "header",
                                 "splice"]))
    if kind == "flip":
        for _ in range(draw(st.integers(1, 4))):
            bit = draw(st.integers(0, 8 * len(data) - 1))
            data[bit // 8] ^= 1 << (bit % 8)
    elif kind == "bytes":
        for _ in range(draw(st.integers(1, 4))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    elif kind == "truncate":
        data = data[:draw(st.integers(0, len(data) - 1))]
    elif kind == "extend":
        data += draw(st.binary(min_size=1, max_size=16))
    elif kind == "random":
        data = bytearray(draw(st.binary(min_size=0, max_size=200)))
    elif kind == "header":  # change a header byte but keep the header CRC valid
        position = draw(st.integers(7, min(len(data) - 5, 60)))
        data[position] = draw(st.integers(0, 255))
        data = _fix_header_crc(data)
    else:  # payload words shuffled between positions
        start = draw(st.integers(0, len(data) - 1))
        stop = draw(st.integers(start, len(data)))
        data = data[:start] + draw(st.binary(min_size=0, max_size=8)) + data[stop:]
    return bytes(data)


@settings(max_examples=10_000, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_fuzzed_bitstreams_fail_cleanly(fuzz_model, reference, data):
    original, pixels = reference
    stream = data.draw(mutated_streams(original))
    try:
        decoded = decode_bytes(fuzz_model, stream)
    except BitstreamError:
        return  # a clear, named error: what we want
    # Decoding succeeded: only acceptable if the image is exactly the original one (e.g. the
    # range coder's last word has don't-care bits). Never a silently wrong image.
    np.testing.assert_array_equal(decoded.pixels, pixels)
    assert len(stream) == len(original)


def test_every_payload_bit_matters(fuzz_model, reference):
    """Each single payload bit flipped: a clear error, or (for the coder's don't-care bits
    at the end) exactly the original image; a decoder that ignored the payload would fail."""
    original, pixels = reference
    start = bitstream.header_size(bitstream.parse(original)[0])
    payload_bits = 8 * (len(original) - start)
    assert payload_bits >= 8 * 32  # a real payload, not one word of zeros
    unchanged = 0
    for bit in range(8 * start, 8 * len(original)):
        data = bytearray(original)
        data[bit // 8] ^= 1 << (bit % 8)
        try:
            decoded = decode_bytes(fuzz_model, bytes(data))
        except BitstreamError:
            continue
        np.testing.assert_array_equal(decoded.pixels, pixels)
        unchanged += 1
    assert unchanged <= 0.1 * payload_bits, f"{unchanged} of {payload_bits} flips changed nothing"


def test_empty_truncated_and_trailing(fuzz_model, reference):
    original, _ = reference
    with pytest.raises(BitstreamError, match="empty"):
        decode_bytes(fuzz_model, b"")
    with pytest.raises(BitstreamError, match="bad magic"):
        decode_bytes(fuzz_model, b"PNG\x00" + original[4:])
    with pytest.raises(BitstreamError, match="truncated"):
        decode_bytes(fuzz_model, original[:-4])
    with pytest.raises(BitstreamError, match="trailing"):
        decode_bytes(fuzz_model, original + b"\0\0\0\0")


def test_flipped_payload_bit_fails_checksum(fuzz_model, reference):
    original, _ = reference
    header, _ = bitstream.parse(original)
    corrupted = bytearray(original)
    corrupted[bitstream.header_size(header) + 3] ^= 0x40  # a high bit of the first word
    with pytest.raises(ChecksumError, match="checksum"):
        decode_bytes(fuzz_model, bytes(corrupted))


def test_consistently_edited_header_is_refused(fuzz_model, reference):
    """A header whose λ was changed and whose CRC was fixed still fails (content checksum)."""
    original, _ = reference
    header, payload = bitstream.parse(original)
    edited = dataclasses.replace(header, lam=float(np.float32(header.lam * 1.05)))
    with pytest.raises(ChecksumError):
        decode_bytes(fuzz_model, bitstream.pack(edited, payload))


@pytest.mark.parametrize("end,factor", [(0, 0.9), (1, 1.1)])
def test_header_lambda_past_the_usable_range_is_refused_before_decoding(fuzz_model, reference,
                                                                        end, factor):
    """A λ further out than the extrapolated margins (a well-formed header, CRC fixed) is
    refused as corrupt before any entropy decoding; one inside them is decoded (and then
    caught by the content checksum, as any other edited λ)."""
    original, _ = reference
    header, payload = bitstream.parse(original)
    usable = fuzz_model.config.usable_lambda_range
    edited = dataclasses.replace(header, lam=float(np.float32(usable[end] * factor)))
    with pytest.raises(BitstreamError, match="corrupt or from another model"):
        decode_bytes(fuzz_model, bitstream.pack(edited, payload))
    inside = dataclasses.replace(header, lam=float(np.float32(usable[end] / factor)))
    assert fuzz_model.rate_point(inside.lam).extrapolated
    with pytest.raises(ChecksumError):
        decode_bytes(fuzz_model, bitstream.pack(inside, payload))


def test_bitstream_from_another_model_is_refused_by_name(fuzz_model, reference):
    original, _ = reference
    other = build_random_model(fuzz_model.config, seed=12)
    other.name = "other-model"
    with pytest.raises(WrongModelError, match="other-model") as caught:
        decode_bytes(other, original)
    assert bitstream.parse(original)[0].model_id.hex() in str(caught.value)


def test_header_claiming_a_huge_image_is_refused_before_decoding(reference):
    original, _ = reference
    header, payload = bitstream.parse(original)
    huge = dataclasses.replace(header, height=40000, width=40000, pad_bottom=0, pad_right=0)
    with pytest.raises(BitstreamError, match="limit"):
        bitstream.parse(bitstream.pack(huge, payload))


@pytest.mark.parametrize("field,value", [("num_groups", 0), ("steps_per_scale", 4),
                                         ("num_scales", 0), ("latent_channels", 0)])
def test_impossible_msp_configuration_is_refused(reference, field, value):
    """Fields with a valid CRC but no possible MSP model end in a clear error, in `parse`
    (which `mspviewer info` uses without a model), not in a crash."""
    original, _ = reference
    header, payload = bitstream.parse(original)
    edited = dataclasses.replace(header, **{field: value})
    with pytest.raises(BitstreamError, match="impossible MSP configuration|sections"):
        bitstream.parse(bitstream.pack(edited, payload))


def test_header_claiming_a_thin_strip_is_refused_by_its_padded_size(reference):
    """A 1×64 Mi strip has as many pixels as the limit, but the networks process it padded
    to 16×64 Mi: 16 times the work the limit allows, from a file of a few dozen bytes."""
    original, _ = reference
    header, payload = bitstream.parse(original)
    width = bitstream.MAX_CODED_PIXELS
    strip = dataclasses.replace(header, height=1, width=width,
                                pad_bottom=bitstream.PADDING_UNIT - 1, pad_right=0)
    with pytest.raises(BitstreamError, match="limit"):
        bitstream.parse(bitstream.pack(strip, payload))
    assert bitstream.coded_pixels(1, width) == bitstream.PADDING_UNIT * width


def test_encoder_refuses_what_no_decoder_would_read_before_any_work(fuzz_model):
    """1 × (4 Mi + 1) pixels is far below the limit, padded it is above: refused at once,
    not after the analysis transform (and LOF) ran."""
    from mspviewer.codec.api import encode_batch_steps

    width = bitstream.MAX_CODED_PIXELS // bitstream.PADDING_UNIT + 1
    strip = np.zeros((1, width, 3), np.uint8)
    with pytest.raises(BitstreamError, match=f"{width}×1 image \\(padded to {width + 15}×16"):
        encode_image(fuzz_model, strip, 0.01, "balanced")
    with pytest.raises(BitstreamError, match="the format codes"):
        next(encode_batch_steps(fuzz_model, [strip, strip], [0.01, 0.02], "balanced"))


def test_decoder_pixel_limit_is_applied_before_decoding(fuzz_model, reference):
    original, _ = reference
    header, _ = bitstream.parse(original)
    coded = bitstream.coded_pixels(header.height, header.width)
    with pytest.raises(BitstreamError, match="limit"):
        decode_bytes(fuzz_model, original, max_pixels=coded - 1)
    decode_bytes(fuzz_model, original, max_pixels=coded)


def test_a_stream_without_a_size_is_read_no_further_than_the_limit(tmp_path):
    """/dev/zero (like a pipe) reports size 0: the read stops one byte past the limit."""
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero here")
    with pytest.raises(BitstreamError, match="^/dev/zero holds more than the 1,000 bytes"):
        bitstream.read_file("/dev/zero", max_bytes=1000)  # the path, not "zero"
    small = tmp_path / "exact.msp"
    small.write_bytes(bytes(range(200)) * 5)
    assert bitstream.read_file(small, max_bytes=1000) == bytes(range(200)) * 5


def test_files_larger_than_any_bitstream_or_unreadable_are_refused_unread(tmp_path, capsys):
    """``info``, ``decode`` and ``replay`` read through ``bitstream.read_file``: a file above
    MAX_BITSTREAM_BYTES (sparse here, so nothing is written) is refused from its size before
    a byte is read, a folder or missing file with one line; exit status 2, no output."""
    from mspviewer.cli import main

    huge = tmp_path / "huge.msp"
    with open(huge, "wb") as handle:
        handle.truncate(bitstream.MAX_BITSTREAM_BYTES + 1)
    cases = [(huge, "more than the 268,435,456"), (tmp_path, "cannot read"),
             (tmp_path / "missing.msp", "cannot read")]
    for path, message in cases:
        with pytest.raises(BitstreamError, match=message):
            bitstream.read_file(path)
        for command in (["info", str(path)], ["decode", str(path), "-o", str(tmp_path / "o.png")],
                        ["replay", str(path), "-o", str(tmp_path / "o.gif")]):
            capsys.readouterr()
            assert main(command) == 2, command
            err = capsys.readouterr().err
            assert message in err and len(err.strip().splitlines()) == 1, (command, err)
    assert not (tmp_path / "o.png").exists() and not (tmp_path / "o.gif").exists()
    small = tmp_path / "small.msp"
    small.write_bytes(b"MSPV\1")
    assert bitstream.read_file(small, max_bytes=5) == b"MSPV\1"
    with pytest.raises(BitstreamError, match="more than the 4 "):
        bitstream.read_file(small, max_bytes=4)


def _respell_first_section(original: bytes, spelling) -> bytes:
    """The file with the first section size written as ``spelling(minimal bytes)`` and the
    header length and CRC fixed up: the same value, the same payload."""
    header, payload = bitstream.parse(original)
    fixed_end = 7 + bitstream._BODY.size
    first = bitstream._varint(header.section_words[0])
    rest = original[fixed_end + len(first):7 + struct.unpack_from("<H", original, 5)[0]]
    body = original[7:fixed_end] + spelling(first) + rest
    head = b"MSPV" + bytes([bitstream.FORMAT_VERSION]) + struct.pack("<H", len(body)) + body
    return head + struct.pack("<I", zlib.crc32(head)) + original[len(original) - 4 * len(payload):]


@pytest.mark.parametrize("spelling", [
    lambda b: b[:-1] + bytes([b[-1] | 0x80, 0x00]),  # one trailing zero group
    lambda b: b[:-1] + bytes([b[-1] | 0x80]) + b"\x80" * (4 - len(b)) + b"\x00",  # 5 bytes
    lambda b: b[:-1] + bytes([b[-1] | 0x80]) + b"\x80" * (5 - len(b)) + b"\x00",  # 6 bytes
])
def test_section_sizes_have_one_spelling(fuzz_model, reference, spelling):
    """The content checksum covers the header body (docs/bitstream.md), which the decoder
    hashes as the encoder writes it (minimal varints). A longer spelling of a section size,
    with a fixed-up CRC, used to be read and decoded, while a decoder that hashes the file's
    own bytes, as the document says, refuses it: it is now refused in ``parse``."""
    original, _ = reference
    respelled = _respell_first_section(original, spelling)
    assert respelled != original
    with pytest.raises(BitstreamError, match="bad section size"):
        bitstream.parse(respelled)
    with pytest.raises(BitstreamError, match="bad section size"):
        decode_bytes(fuzz_model, respelled)
    assert _respell_first_section(original, lambda b: b) == original


@pytest.mark.parametrize("value", [2 ** 32, 2 ** 35 - 1])
def test_section_sizes_beyond_32_bits_are_refused(reference, value):
    """Five varint groups hold 35 bits, but a section size is a 32-bit count of words
    (docs/bitstream.md): a minimal five-byte spelling past 2^32 − 1 is a corrupt header,
    refused as such rather than read and then reported as a truncated payload."""
    original, _ = reference
    spelled = bitstream._varint(value)
    assert len(spelled) == 5
    with pytest.raises(BitstreamError, match="bad section size"):
        bitstream.parse(_respell_first_section(original, lambda _: spelled))
    largest = _respell_first_section(original, lambda _: bitstream._varint(2 ** 32 - 1))
    with pytest.raises(BitstreamError, match="truncated"):  # a legal size, a short payload
        bitstream.parse(largest)


def test_checksums_and_model_identity_as_the_document_specifies(fuzz_model, reference):
    """docs/bitstream.md, recomputed from the file's bytes without the codec's helpers:
    header CRC-32, content checksum (BLAKE2b with an 8-byte digest over the header body with
    the field zeroed, then the int32 symbols pass by pass, channel by channel, row-major),
    and the model identity (SHA-256 of the configuration JSON with default separators and
    of every state_dict entry's name and float32 values, in name order)."""
    import hashlib
    import json

    original, _ = reference
    body_end = 7 + struct.unpack_from("<H", original, 5)[0]
    assert struct.unpack_from("<I", original, body_end)[0] == zlib.crc32(original[:body_end])
    body = bytearray(original[7:body_end])
    stored = bytes(body[27:35])
    body[27:35] = bytes(8)
    record = decode_bytes(fuzz_model, original).analysis
    symbols = record.symbols.reshape(record.symbols.shape[-3:])
    passes = record.pass_index.reshape(symbols.shape)
    channel, row, column = np.indices(symbols.shape)
    order = np.lexsort((column.ravel(), row.ravel(), channel.ravel(), passes.ravel()))
    digest = hashlib.blake2b(bytes(body) + symbols.ravel()[order].astype("<i4").tobytes(),
                             digest_size=8)
    assert digest.digest() == stored

    identity = hashlib.sha256(json.dumps(fuzz_model.config.to_dict(), sort_keys=True).encode())
    for name, tensor in sorted(fuzz_model.state_dict().items()):
        identity.update(name.encode("utf-8"))
        identity.update(tensor.detach().float().numpy().astype("<f4").tobytes())
    assert original[7:15] == identity.digest()[:8]
