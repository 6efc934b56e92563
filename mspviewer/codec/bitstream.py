"""The ``.msp`` file format (see docs/bitstream.md for the byte layout).

Only this module knows the layout. Parsing validates everything before the decoder runs a
single network: magic, version, header checksum, sizes, and that the payload length equals
the sum of the per-pass section sizes. All integers are little-endian.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mspviewer.codec.config import ModelConfig, MSPConfig, TransformConfig
from mspviewer.errors import BitstreamError, ModelFileError

MAGIC = b"MSPV"
FORMAT_VERSION = 1
PADDING_UNIT = 16  # images are padded (edge replicate) to a multiple of this
# Decoding cost follows the size the header claims, so a tiny forged file could otherwise
# ask for a huge decode: refuse more pixels than the image loader accepts (64 Mi). The limit
# holds for the padded size, which the networks process: a 1×64 Mi strip pads to 16×64 Mi.
MAX_CODED_PIXELS = 64 * 1024 * 1024
# The largest file read: 32 bits per pixel of the largest image, above raw 8-bit RGB (24), so
# no real encoding is refused, while a huge wrong file is refused before it is read.
MAX_BITSTREAM_BYTES = 256 * 1024 * 1024

_PREFIX = struct.Struct("<4sBH")  # magic, version, length of the header body
_BODY = struct.Struct("<8sfIIBBBBBH8sH")  # fixed part of the body, then section sizes
_CRC = struct.Struct("<I")


def read_file(path: str | Path, max_bytes: int = MAX_BITSTREAM_BYTES) -> bytes:
    """The bytes of an ``.msp`` file, refused (BitstreamError) when it cannot be read or is
    larger than any real bitstream; the content is checked by ``parse``."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise BitstreamError(f"{path} is {size:,} bytes, more than the {max_bytes:,} "
                                 f"of the largest bitstream read")
        # A pipe, device or /proc file reports size 0 whatever it holds: the read itself
        # stops one byte past the limit.
        with open(path, "rb") as handle:
            data = handle.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise BitstreamError(f"{path} holds more than the {max_bytes:,} bytes of the "
                                 f"largest bitstream read")
        return data
    except OSError as error:
        raise BitstreamError(f"cannot read {path}: {error.strerror or error}") from None


@dataclass(frozen=True)
class Header:
    model_id: bytes  # 8 bytes: prefix of the SHA-256 of configuration + weights
    lam: float  # exactly representable in float32
    height: int  # original image size, before padding
    width: int
    pad_bottom: int
    pad_right: int
    num_scales: int
    steps_per_scale: int
    num_groups: int
    latent_channels: int
    symbols_checksum: bytes  # 8 bytes
    section_words: tuple[int, ...]  # 32-bit words of payload attributed to each pass

    @property
    def padded_size(self) -> tuple[int, int]:
        return self.height + self.pad_bottom, self.width + self.pad_right

    @property
    def payload_words(self) -> int:
        return sum(self.section_words)


def content_checksum(header: Header, symbol_arrays) -> bytes:
    """64-bit BLAKE2b digest of the header fields (all but this checksum) and of every coded
    symbol, pass by pass, as int32 little-endian.

    Covering the header too means a header edited consistently (CRC recomputed) but not
    re-encoded, say with another λ, is refused instead of decoding to a wrong image.
    """
    digest = hashlib.blake2b(digest_size=8)
    digest.update(_pack_body(header, checksum=bytes(8)))
    for symbols in symbol_arrays:
        digest.update(np.ascontiguousarray(symbols, dtype="<i4").tobytes())
    return digest.digest()


def padding_for(height: int, width: int) -> tuple[int, int]:
    return (-height) % PADDING_UNIT, (-width) % PADDING_UNIT


def coded_pixels(height: int, width: int) -> int:
    """Pixels the networks process for a height×width image: its padded area."""
    pad_bottom, pad_right = padding_for(height, width)
    return (height + pad_bottom) * (width + pad_right)


def check_codable(height: int, width: int) -> None:
    """Refuse, before any work, an image whose file no decoder would read."""
    if coded_pixels(height, width) > MAX_CODED_PIXELS:
        pad_bottom, pad_right = padding_for(height, width)
        raise BitstreamError(
            f"a {width}×{height} image (padded to {width + pad_right}×{height + pad_bottom} "
            f"for the transform) is more than the {MAX_CODED_PIXELS:,} pixels the format codes")


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _read_varint(data: bytes, offset: int, end: int) -> tuple[int, int]:
    """One section size: at most 5 bytes (any 32-bit value), and minimal, as ``_varint``
    writes it. The content checksum hashes the body as ``_pack_body`` writes it, so a longer
    spelling of the same value would pass here but not in a decoder that hashes the file's
    own bytes (docs/bitstream.md): only one spelling is accepted."""
    value, shift = 0, 0
    while True:
        if offset >= end or shift > 28:
            raise BitstreamError("header is corrupt (bad section size)")
        byte = data[offset]
        offset += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            if byte == 0 and shift > 7:  # a trailing zero group: not minimal
                raise BitstreamError("header is corrupt (bad section size)")
            if value > 0xFFFFFFFF:  # five groups hold 35 bits; a section size is a 32-bit count
                raise BitstreamError("header is corrupt (bad section size)")
            return value, offset


def _pack_body(header: Header, checksum: bytes) -> bytes:
    body = _BODY.pack(
        header.model_id, header.lam, header.height, header.width, header.pad_bottom,
        header.pad_right, header.num_scales, header.steps_per_scale, header.num_groups,
        header.latent_channels, checksum, len(header.section_words))
    return body + b"".join(_varint(n) for n in header.section_words)


def pack(header: Header, payload: np.ndarray) -> bytes:
    body = _pack_body(header, header.symbols_checksum)
    prefix = _PREFIX.pack(MAGIC, FORMAT_VERSION, len(body))
    crc = _CRC.pack(zlib.crc32(prefix + body))
    payload_bytes = np.ascontiguousarray(payload, dtype="<u4").tobytes()
    if len(payload_bytes) != 4 * header.payload_words:
        raise ValueError("payload does not match the section sizes")  # a bug
    return prefix + body + crc + payload_bytes


def header_size(header: Header) -> int:
    """Bytes before the payload."""
    return (_PREFIX.size + _BODY.size + sum(len(_varint(n)) for n in header.section_words)
            + _CRC.size)


def parse(data: bytes, max_pixels: int = MAX_CODED_PIXELS) -> tuple[Header, np.ndarray]:
    """Header and payload words; raises :class:`BitstreamError` on anything malformed or on
    an image of more than ``max_pixels``."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise BitstreamError("bitstream must be bytes")
    data = bytes(data)
    if len(data) == 0:
        raise BitstreamError("bitstream is empty")
    if len(data) < _PREFIX.size or data[:4] != MAGIC:
        raise BitstreamError("not an MSP bitstream (bad magic)")
    _, version, body_length = _PREFIX.unpack_from(data)
    if version != FORMAT_VERSION:
        raise BitstreamError(f"unsupported format version {version} "
                             f"(this build reads version {FORMAT_VERSION})")
    body_end = _PREFIX.size + body_length
    if len(data) < body_end + _CRC.size:
        raise BitstreamError("bitstream is truncated (inside the header)")
    (stored_crc,) = _CRC.unpack_from(data, body_end)
    if zlib.crc32(data[:body_end]) != stored_crc:
        raise BitstreamError("header checksum mismatch: the header is corrupt")
    if body_length < _BODY.size:
        raise BitstreamError("header is corrupt (too short)")
    (model_id, lam, height, width, pad_bottom, pad_right, num_scales, steps, groups,
     latent_channels, checksum, num_sections) = _BODY.unpack_from(data, _PREFIX.size)
    offset = _PREFIX.size + _BODY.size
    sections = []
    for _ in range(num_sections):
        words, offset = _read_varint(data, offset, body_end)
        sections.append(words)
    if offset != body_end:
        raise BitstreamError("header is corrupt (trailing bytes)")
    header = Header(model_id, float(lam), height, width, pad_bottom, pad_right, num_scales,
                    steps, groups, latent_channels, checksum, tuple(sections))
    _validate(header, max_pixels)
    payload = data[body_end + _CRC.size:]
    expected = 4 * header.payload_words
    if len(payload) < expected:
        raise BitstreamError(f"bitstream is truncated: payload has {len(payload)} bytes, "
                             f"header announces {expected}")
    if len(payload) > expected:
        raise BitstreamError(f"bitstream has {len(payload) - expected} unexpected trailing bytes")
    return header, np.frombuffer(payload, dtype="<u4").astype(np.uint32)


def _validate(header: Header, max_pixels: int) -> None:
    if header.height < 1 or header.width < 1:
        raise BitstreamError("header is corrupt (empty image)")
    if coded_pixels(header.height, header.width) > max_pixels:
        raise BitstreamError(f"header claims a {header.width}×{header.height} image, above "
                             f"the limit of {max_pixels:,} pixels (padded size)")
    msp = MSPConfig(num_scales=header.num_scales, steps_per_scale=header.steps_per_scale,
                    num_groups=header.num_groups)
    try:  # the model configuration's own validation, applied to the header's fields
        ModelConfig(transform=TransformConfig(latent_channels=header.latent_channels), msp=msp)
    except ModelFileError:
        raise BitstreamError("header holds an impossible MSP configuration") from None
    expected = msp.sequential_passes
    if len(header.section_words) != expected:
        raise BitstreamError(f"header lists {len(header.section_words)} sections, its MSP "
                             f"configuration codes {expected} passes")
    if padding_for(header.height, header.width) != (header.pad_bottom, header.pad_right):
        raise BitstreamError("header is corrupt (inconsistent padding)")
    if not np.isfinite(header.lam) or header.lam <= 0:
        raise BitstreamError("header is corrupt (invalid λ)")
