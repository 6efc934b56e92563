"""Analysis records as .npz files (mspviewer.codec.record_file) and `mspviewer info --arrays`."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from conftest import smooth_image
from mspviewer.codec import decode_bytes, encode_image
from mspviewer.codec.api import PLAIN_PROFILE
from mspviewer.codec.channel_usage import channel_usage
from mspviewer.codec.inspection import inspect_element
from mspviewer.codec.record_file import (ARRAYS, METADATA_KEY, load_record, record_npz_bytes,
                                         save_record)
from mspviewer.errors import MSPViewerError

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def encoded(tiny_model):
    # 40×56: padded to the next multiple of the latent stride, so the padded grid differs
    # from the image's
    return encode_image(tiny_model, smooth_image(40, 56, seed=3), 0.01, PLAIN_PROFILE)


def assert_same_record(loaded, record) -> None:
    for name in ARRAYS:
        original = getattr(record, name)
        assert np.array_equal(getattr(loaded, name), original), name
        assert getattr(loaded, name).dtype == np.asarray(original).dtype, name
    assert loaded.passes == record.passes
    assert loaded.summary() == record.summary()


def test_round_trip_keeps_every_array_and_figure(encoded, tmp_path, tiny_model):
    record = encoded.analysis
    path = tmp_path / "record.npz"
    save_record(record, path)
    loaded = load_record(path)
    assert_same_record(loaded, record)
    assert loaded.image_size == record.image_size and loaded.padded_size != loaded.image_size
    # the tools that take a decoded record take the loaded one, with the same answers
    assert np.array_equal(channel_usage(loaded).bits, channel_usage(record).bits)
    steps = tiny_model.config.msp.steps_per_scale
    inspected = inspect_element(loaded, 3, 1, 2, steps)
    assert inspected.to_dict() == inspect_element(record, 3, 1, 2, steps).to_dict()
    assert inspected.bits_match


def test_the_file_is_plain_numpy_and_explains_itself(encoded, tmp_path):
    """Readable with numpy alone, no pickle; the bits add up to the record's estimate and the
    symbols are round(ŷ − μ), as the metadata's descriptions say."""
    record = encoded.analysis
    with np.load(io.BytesIO(record_npz_bytes(record)), allow_pickle=False) as archive:
        assert set(archive.files) == set(ARRAYS) | {METADATA_KEY}
        metadata = json.loads(archive[METADATA_KEY].tobytes().decode("utf-8"))
        y_hat, mu, symbols, bits = (archive[k] for k in ("y_hat", "mu", "symbols", "bits"))
    assert metadata["lambda"] == record.lam and metadata["model_id"] == record.model_id
    assert set(metadata["arrays"]) == set(ARRAYS) and "σ" in metadata["arrays"]["sigma"]
    assert y_hat.shape == (record.y_hat.shape[0],) + tuple(
        s // 16 for s in metadata["padded_size"])
    assert bits.sum() == pytest.approx(record.estimated_bits, rel=1e-12)
    assert np.array_equal(symbols, np.rint(y_hat - mu).astype(np.int32))
    assert len(metadata["passes"]) == len(record.passes)


def test_a_record_from_the_decoder_equals_the_encoders(encoded, tiny_model, tmp_path):
    """What `info --arrays` writes (from the decoder) is what the encoder knew."""
    decoded = decode_bytes(tiny_model, encoded.bitstream).analysis
    save_record(decoded, tmp_path / "decoded.npz")
    assert_same_record(load_record(tmp_path / "decoded.npz"), encoded.analysis)


def rewrite(source: bytes, change) -> bytes:
    """The .npz ``source`` with its arrays passed through ``change(dict)``."""
    with np.load(io.BytesIO(source), allow_pickle=False) as archive:
        arrays = {k: archive[k] for k in archive.files}
    change(arrays)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def set_metadata(arrays, **fields):
    metadata = json.loads(arrays[METADATA_KEY].tobytes().decode("utf-8"))
    metadata.update(fields)
    arrays[METADATA_KEY] = np.frombuffer(json.dumps(metadata).encode(), dtype=np.uint8)


@pytest.mark.parametrize("damage, message", [
    (lambda data: data[:len(data) // 2], "not a readable .npz"),
    (lambda data: b"MSP" + data[3:], "not a readable .npz"),
    (lambda data: b"", "not a readable .npz"),
    (lambda data: rewrite(data, lambda a: a.pop(METADATA_KEY)), "not an mspviewer analysis"),
    (lambda data: rewrite(data, lambda a: a.pop("sigma")), "'sigma' is missing"),
    (lambda data: rewrite(data, lambda a: a.update(mu=a["mu"][:, :1])), "differ in shape"),
    (lambda data: rewrite(data, lambda a: a.update(bits=a["bits"].astype(np.float32))),
     "expected float64"),
    (lambda data: rewrite(data, lambda a: set_metadata(a, version=2)), "version 2"),
    (lambda data: rewrite(data, lambda a: set_metadata(a, format="other")),
     "not an mspviewer analysis"),
    (lambda data: rewrite(data, lambda a: set_metadata(a, passes=[])), "pass table"),
    (lambda data: rewrite(data, lambda a: set_metadata(a, padded_size=[48, 80])),
     "does not fit the padded size"),
    (lambda data: rewrite(data, lambda a: set_metadata(a, image_size=[60, 56])),
     "does not fit the padded size"),
    (lambda data: rewrite(data, lambda a: set_metadata(a, image_size=None)),
     "sizes are missing"),
    (lambda data: rewrite(data, lambda a: set_metadata(a, passes=[{"index": 0}])),
     "pass indices outside"),
    (lambda data: rewrite(data, lambda a: a.update(
        **{METADATA_KEY: np.frombuffer(b"{not json", dtype=np.uint8)})), "unreadable metadata"),
])
def test_other_files_are_refused_with_a_reason(encoded, tmp_path, damage, message):
    path = tmp_path / "bad.npz"
    path.write_bytes(damage(record_npz_bytes(encoded.analysis)))
    with pytest.raises(MSPViewerError, match=message) as caught:
        load_record(path)
    assert "\n" not in str(caught.value)


def test_damaged_bytes_anywhere_are_refused_with_a_reason(encoded, tmp_path):
    """Every byte of a record, flipped in turn: the file loads (a byte no reader checks) or
    is refused in one line; never a zlib, zip or NumPy exception of its own."""
    original = record_npz_bytes(encoded.analysis)
    path = tmp_path / "flipped.npz"
    outcomes = {"loaded": 0, "refused": 0}
    for position in range(0, len(original), max(1, len(original) // 1500)):
        damaged = bytearray(original)
        damaged[position] ^= 0xFF
        path.write_bytes(bytes(damaged))
        try:
            load_record(path)
        except MSPViewerError as error:
            assert "\n" not in str(error)
            outcomes["refused"] += 1
        else:
            outcomes["loaded"] += 1
    assert outcomes["refused"] > outcomes["loaded"]


def test_an_ordinary_npz_and_a_missing_file_are_refused(tmp_path):
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(MSPViewerError, match="not an mspviewer analysis record"):
        load_record(tmp_path / "other.npz")
    with pytest.raises(MSPViewerError, match="no such file"):
        load_record(tmp_path / "missing.npz")
    np.save(tmp_path / "bits.npy", np.zeros((2, 3, 4)))  # one array, as np.save writes it
    with pytest.raises(MSPViewerError, match="single NumPy array"):
        load_record(tmp_path / "bits.npy")
    with zipfile.ZipFile(tmp_path / "pickled.npz", "w") as archive:  # an object array
        buffer = io.BytesIO()
        np.save(buffer, np.array([{"a": 1}], dtype=object), allow_pickle=True)
        archive.writestr(f"{METADATA_KEY}.npy", buffer.getvalue())
    with pytest.raises(MSPViewerError, match="not a readable .npz"):
        load_record(tmp_path / "pickled.npz")


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "mspviewer", *map(str, args)],
                          capture_output=True, text=True, timeout=300)


def test_info_arrays_writes_the_decoded_record(tmp_path, model_file):
    from mspviewer.codec import load_model

    image = tmp_path / "img.png"
    from mspviewer.imageio import save_png

    save_png(smooth_image(40, 56, seed=3), image)
    stream = tmp_path / "img.msp"
    assert run_cli("encode", image, "-o", stream, "--lambda", "0.01",
                   "--model", model_file).returncode == 0
    out = tmp_path / "latents.npz"
    done = run_cli("--json", "info", stream, "--arrays", out, "--model", model_file)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["arrays"] == str(out)
    expected = decode_bytes(load_model(model_file), stream.read_bytes()).analysis
    assert_same_record(load_record(out), expected)
    # the output is checked before decoding: never the bitstream, never a missing folder
    before = stream.read_bytes()
    for target, reason in ((stream, "is the input"), (model_file, "is the input"),
                           (tmp_path / "no" / "x.npz", "does not exist")):
        refused = run_cli("info", stream, "--arrays", target, "--model", model_file)
        assert refused.returncode == 2 and reason in refused.stderr, refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1
    assert stream.read_bytes() == before
