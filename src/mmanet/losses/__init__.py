"""Losses: per-sample values (SP distances, KD, CE), the reductions that weigh them, and their composition."""

from mmanet.losses.compose import (
    Context,
    DenseSimilarityDistance,
    DistillationLoss,
    EntropyReducer,
    KDDistance,
    MeanReducer,
    SimilarityDistance,
    TableReducer,
    build_distillation,
)
from mmanet.losses.dense import dense_mad_loss, dense_similarity_distances, pixel_entropy_weights, pool_rows
from mmanet.losses.distillation import KDLoss, MADLoss, SPLoss, kd_distances, kd_loss, mad_loss, sp_loss
from mmanet.losses.reductions import (
    effective_sample_share,
    entropy_weights,
    normalize_weights,
    prediction_entropy,
    weighted_sum,
)
from mmanet.losses.regularization import mar_loss, mar_loss_official
from mmanet.losses.segmentation import downsample_labels, per_sample_cross_entropy, segmentation_loss
from mmanet.losses.similarity import normalized_gram, similarity_distances

__all__ = [
    "Context",
    "DenseSimilarityDistance",
    "DistillationLoss",
    "EntropyReducer",
    "KDDistance",
    "KDLoss",
    "MADLoss",
    "MeanReducer",
    "SPLoss",
    "SimilarityDistance",
    "TableReducer",
    "build_distillation",
    "dense_mad_loss",
    "dense_similarity_distances",
    "downsample_labels",
    "effective_sample_share",
    "entropy_weights",
    "kd_distances",
    "kd_loss",
    "mad_loss",
    "mar_loss",
    "mar_loss_official",
    "normalize_weights",
    "normalized_gram",
    "per_sample_cross_entropy",
    "pixel_entropy_weights",
    "pool_rows",
    "prediction_entropy",
    "segmentation_loss",
    "similarity_distances",
    "sp_loss",
    "weighted_sum",
]
