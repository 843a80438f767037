import pytest
import torch
from tests.helpers.reference import reference_sample_mask, reference_subsets

from mmanet.modality import (
    all_combinations,
    check_modalities,
    combination_mask,
    combination_name,
    combinations_mask,
    mask_to_combination,
    parse_combination,
    sample_masks,
    sample_masks_weighted,
)


@pytest.mark.parametrize("m", [2, 3, 4, 5, 6])
def test_all_combinations_enumerates_every_nonempty_subset_in_order(m):
    names = [f"m{i}" for i in range(m)]
    combos = all_combinations(names)
    assert len(combos) == 2**m - 1
    assert combos == [tuple(names[i] for i in idx) for idx in reference_subsets(m)]
    assert len({combination_name(c) for c in combos}) == 2**m - 1
    for combo in combos:
        assert parse_combination(combination_name(combo), names) == combo
        assert mask_to_combination(combination_mask(combo, names), names) == combo


def test_parse_combination_any_order_and_errors():
    mods = ("rgb", "depth", "ir")
    assert parse_combination("ir+rgb", mods) == ("rgb", "ir")
    with pytest.raises(ValueError, match="unknown modality"):
        parse_combination("rgb+thermal", mods)
    with pytest.raises(ValueError, match="twice"):
        parse_combination("rgb+rgb", mods)


@pytest.mark.parametrize("bad", [[], ["a", "a"], ["a+b"], ["a.b"], [""]])
def test_check_modalities_rejects_bad_names(bad):
    with pytest.raises(ValueError):
        check_modalities(bad)


def test_combinations_mask_rows_match_single_masks():
    mods = ["a", "b", "c"]
    combos = all_combinations(mods)
    masks = combinations_mask(combos, mods)
    assert masks.shape == (7, 3)
    assert masks.dtype == torch.bool
    for row, combo in zip(masks, combos, strict=True):
        assert row.tolist() == [m in combo for m in mods]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sample_masks_equals_reference_and_stays_within_present(seed):
    g = torch.Generator().manual_seed(seed)
    present = torch.rand(200, 4, generator=g) < 0.7
    present[~present.any(1), 0] = True
    uniform = torch.rand(200, generator=g)
    masks = sample_masks(present, uniform)
    for i in range(200):
        expected = reference_sample_mask(present[i].tolist(), float(uniform[i]))
        assert masks[i].tolist() == expected, f"seed {seed} sample {i}"
    assert not (masks & ~present).any()
    assert masks.any(1).all()


def test_sample_masks_is_uniform_over_the_seven_combinations():
    n = 70_000
    uniform = torch.rand(n, generator=torch.Generator().manual_seed(0))
    masks = sample_masks(torch.ones(n, 3, dtype=torch.bool), uniform)
    codes = (masks.long() * torch.tensor([1, 2, 4])).sum(1)
    counts = torch.bincount(codes, minlength=8)
    assert counts[0] == 0
    expected = n / 7
    # each count within 5 standard deviations of a binomial(n, 1/7)
    sd = (n * (1 / 7) * (6 / 7)) ** 0.5
    assert ((counts[1:] - expected).abs() < 5 * sd).all(), counts.tolist()


def test_sample_masks_rejects_sample_with_nothing_present():
    present = torch.tensor([[True, False], [False, False]])
    with pytest.raises(ValueError, match="sample 1"):
        sample_masks(present, torch.tensor([0.1, 0.2]))


def test_no_bit_lists_outside_modality_module():
    """Combinations come from one module: no other source enumerates subsets itself."""
    import pathlib

    src = pathlib.Path(__file__).resolve().parents[1] / "src" / "mmanet"
    offenders = []
    for path in src.rglob("*.py"):
        if path.name == "modality.py":
            continue
        text = path.read_text()
        for needle in ("itertools.combinations", "2**", "2 **", "powerset"):
            if needle in text:
                offenders.append((path.name, needle))
    assert not offenders, offenders


@pytest.mark.parametrize("name", ["rgb depth", "a+b", "x.y", "", "mean of all"])
def test_modality_names_are_identifiers_so_summary_rows_never_collide(name):
    with pytest.raises(ValueError, match="letters, digits"):
        check_modalities(["ok", name])


def _reference_weighted(present: list[bool], u: float, weights: list[float]) -> list[bool]:
    """Slow reference: walk the allowed codes in order, summing weights, until ``u * total``."""
    m = len(present)
    allowed = [c for c in range(1, 2**m) if all(present[j] or not (c >> j) & 1 for j in range(m))]
    total = sum(weights[c] for c in allowed)
    running = 0.0
    for c in allowed:
        running += weights[c]
        if running > min(u, 1 - 1e-7) * total:
            return [bool((c >> j) & 1) for j in range(m)]
    raise AssertionError("no code picked")


@pytest.mark.parametrize("seed", [0, 1])
def test_weighted_sampling_equals_reference_and_equal_weights_give_uniform_draws(seed):
    g = torch.Generator().manual_seed(seed)
    present = torch.rand(300, 4, generator=g) < 0.7
    present[~present.any(1), 1] = True
    uniform = torch.rand(300, generator=g)
    weights = torch.rand(16, generator=g) + 0.05
    masks = sample_masks_weighted(present, uniform, weights)
    for i in range(300):
        assert masks[i].tolist() == _reference_weighted(present[i].tolist(), float(uniform[i]), weights.tolist()), i
    assert not (masks & ~present).any()
    assert torch.equal(sample_masks_weighted(present, uniform, torch.ones(16)), sample_masks(present, uniform))


def test_weighted_sampling_draws_each_combination_in_proportion_to_its_weight():
    n = 14_000
    uniform = ((torch.arange(n, dtype=torch.float64) + 0.5) / n).float()  # an exact grid
    weights = torch.tensor([0.0, 4.0, 1.0, 1.0, 0.0, 2.0, 1.0, 5.0])  # code 4 (the third alone) never
    masks = sample_masks_weighted(torch.ones(n, 3, dtype=torch.bool), uniform, weights)
    counts = torch.bincount((masks.long() * torch.tensor([1, 2, 4])).sum(1), minlength=8)
    expected = n * weights / weights.sum()
    assert ((counts - expected).abs() <= 2).all(), (counts.tolist(), expected.tolist())


def test_weighted_sampling_rejects_bad_weights_naming_the_problem():
    present = torch.tensor([[True, False], [False, True]])
    uniform = torch.tensor([0.1, 0.9])
    with pytest.raises(ValueError, match=r"shape \(4,\)"):
        sample_masks_weighted(present, uniform, torch.ones(3))
    with pytest.raises(ValueError, match="non-negative"):
        sample_masks_weighted(present, uniform, torch.tensor([0.0, 1.0, -1.0, 1.0]))
    with pytest.raises(ValueError, match=r"sample 1 .* positive weight"):
        sample_masks_weighted(present, uniform, torch.tensor([0.0, 1.0, 0.0, 1.0]))
