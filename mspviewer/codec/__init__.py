"""The MSP learned image codec. Never imports Qt: scripts, the CLI and tests use it alike.

Main entry points::

    from mspviewer.codec import load_model, encode_image, decode_bytes
    model = load_model()                       # the shipped weights
    encoded = encode_image(model, pixels, lam=0.0067)
    decoded = decode_bytes(model, encoded.bitstream)
"""

from mspviewer.codec.analysis import AnalysisRecord, PassStatistics
from mspviewer.codec.api import (DecodedImage, EncodedImage, decode_bytes, encode_image,
                                 image_to_tensor, resolve_device, tensor_to_image)
from mspviewer.codec.config import ModelConfig, MSPConfig, TransformConfig, tiny_config
from mspviewer.codec.model import MSPCodec
from mspviewer.codec.weights import build_random_model, default_model_path, load_model, save_weights

__all__ = [
    "AnalysisRecord", "PassStatistics", "DecodedImage", "EncodedImage", "decode_bytes",
    "encode_image", "image_to_tensor", "resolve_device", "tensor_to_image", "ModelConfig",
    "MSPConfig", "TransformConfig", "tiny_config", "MSPCodec", "build_random_model",
    "default_model_path", "load_model", "save_weights",
]
