"""Miners say which modality combinations need help; they never compute a loss."""

from mmanet.miners.weak_combinations import Criterion, WeakCombinationMiner, default_candidates

__all__ = ["Criterion", "WeakCombinationMiner", "default_candidates"]
