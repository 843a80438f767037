"""Expected score under independent sensor failure.

Each modality ``m`` fails independently with probability ``p_m``; a sample is scored under the
combination ``c`` of the modalities that work, given that at least one works:

``E = sum_c P(c) m(c) / (1 - prod_m p_m)``, ``P(c) = prod_{m in c} (1 - p_m) prod_{m not in c} p_m``.

>>> expected_metric({"a": 0.9, "b": 0.5, "a+b": 1.0}, ("a", "b"), {"a": 0.1, "b": 0.5})
0.9263157894736843
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from mmanet.modality import all_combinations, combination_name

__all__ = ["combination_probabilities", "expected_metric", "parse_failure_rates", "robustness_curve"]


def combination_probabilities(modalities: Sequence[str], rates: Mapping[str, float]) -> dict[str, float]:
    """``P(c | at least one modality works)`` for every combination name."""
    unknown = sorted(set(rates) - set(modalities))
    if unknown:
        raise ValueError(f"failure rates for unknown modalities {unknown}; the model has {list(modalities)}")
    p = {m: float(rates.get(m, 0.0)) for m in modalities}
    bad = {m: v for m, v in p.items() if not 0.0 <= v <= 1.0}
    if bad:
        raise ValueError(f"failure rates must be in [0, 1], got {bad}")
    none_works = math.prod(p.values())
    if none_works >= 1.0:
        raise ValueError("every modality fails with probability 1: no combination is ever observed")
    out = {}
    for combo in all_combinations(modalities):
        works = math.prod(1 - p[m] for m in combo) * math.prod(p[m] for m in modalities if m not in combo)
        out[combination_name(combo)] = works / (1 - none_works)
    return out


def expected_metric(
    per_combination: Mapping[str, float], modalities: Sequence[str], rates: Mapping[str, float]
) -> float:
    """The metric expected under the failure ``rates`` (see the module docstring)."""
    probabilities = combination_probabilities(modalities, rates)
    missing = [c for c, q in probabilities.items() if q > 0 and c not in per_combination]
    if missing:
        raise ValueError(f"no result for combinations {missing[:3]} that these failure rates can produce")
    return float(sum(q * per_combination[c] for c, q in probabilities.items() if q > 0))


def robustness_curve(
    per_combination: Mapping[str, float], modalities: Sequence[str], rates: Sequence[float]
) -> list[float]:
    """Expected metric when every modality fails with the same probability ``p``, for each ``p`` in ``rates``."""
    return [expected_metric(per_combination, modalities, dict.fromkeys(modalities, p)) for p in rates]


def parse_failure_rates(text: str) -> dict[str, float]:
    """``"rgb=0.1,depth=0.05"`` -> ``{"rgb": 0.1, "depth": 0.05}``."""
    out: dict[str, float] = {}
    for item in (part.strip() for part in text.split(",") if part.strip()):
        name, sep, value = item.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise ValueError(f"--failure-rates: expected modality=rate items like rgb=0.1, got {item!r}")
    return out
