"""Networks: encoders, decoders and the any-subset network. Nothing here knows about training."""

from mmanet.nn.decoders import DECODERS, Decoder, NetOutput, build_decoder
from mmanet.nn.encoders import ENCODERS, Encoder, build_encoder
from mmanet.nn.layers import BasicBlock, InputNorm, SqueezeExcitation, resnet_layer
from mmanet.nn.network import AnySubsetNet, NetworkSpec, build_network, build_regularization_decoder
from mmanet.nn.registry import Registry

__all__ = [
    "DECODERS",
    "ENCODERS",
    "AnySubsetNet",
    "BasicBlock",
    "Decoder",
    "Encoder",
    "InputNorm",
    "NetOutput",
    "NetworkSpec",
    "Registry",
    "SqueezeExcitation",
    "build_decoder",
    "build_encoder",
    "build_network",
    "build_regularization_decoder",
    "resnet_layer",
]
