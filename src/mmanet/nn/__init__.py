"""Networks: encoders, decoders and the any-subset network. Nothing here knows about training."""

from mmanet.nn.base import SubsetNetwork
from mmanet.nn.decoders import DECODERS, Decoder, NetOutput, build_decoder
from mmanet.nn.encoders import ENCODERS, Encoder, build_encoder
from mmanet.nn.layers import BasicBlock, InputNorm, SqueezeExcitation, resnet_layer
from mmanet.nn.network import AnySubsetNet, NetworkSpec, build_network, build_regularization_decoder, model_config
from mmanet.nn.own_decoders import CombinationDecoders, copy_shared, select_rows, through_shared
from mmanet.nn.patches import CombinationAffine, CombinationReadout, attach_patches, coded, conditioned
from mmanet.nn.registry import Registry
from mmanet.nn.resnet import STAGE_ENCODERS, StageEncoder, build_stage_encoder
from mmanet.nn.segmentation import SegDecoder, SegFeatures, SegmentationNet

__all__ = [
    "DECODERS",
    "ENCODERS",
    "STAGE_ENCODERS",
    "AnySubsetNet",
    "BasicBlock",
    "CombinationAffine",
    "CombinationDecoders",
    "CombinationReadout",
    "Decoder",
    "Encoder",
    "InputNorm",
    "NetOutput",
    "NetworkSpec",
    "Registry",
    "SegDecoder",
    "SegFeatures",
    "SegmentationNet",
    "SqueezeExcitation",
    "StageEncoder",
    "SubsetNetwork",
    "attach_patches",
    "build_decoder",
    "build_encoder",
    "build_network",
    "build_regularization_decoder",
    "build_stage_encoder",
    "coded",
    "conditioned",
    "copy_shared",
    "model_config",
    "resnet_layer",
    "select_rows",
    "through_shared",
]
