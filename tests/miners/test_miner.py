import io

import numpy as np
import pytest
import torch
from tests.helpers.reference import reference_label_kl_scores

from mmanet.miners import WeakCombinationMiner, default_candidates
from mmanet.modality import all_combinations, combination_name


def _crafted_logits(modalities, weak_candidate, n=200, k=5, seed=0):
    """Full combination predicts the truth; every candidate mostly too, except ``weak_candidate``,
    whose predictions collapse onto class 0."""
    g = torch.Generator().manual_seed(seed)
    target = torch.randint(0, k, (n,), generator=g)
    logits = {}
    for combo in all_combinations(modalities):
        name = combination_name(combo)
        pred = target.clone()
        noise = torch.rand(n, generator=g) < (0.6 if name == weak_candidate else 0.1)
        pred[noise] = 0 if name == weak_candidate else torch.randint(0, k, (int(noise.sum()),), generator=g)
        logits[name] = torch.nn.functional.one_hot(pred, k).float() * 5
    return logits, target


@pytest.mark.parametrize(
    ("modalities", "weak", "expected"),
    [
        (("a", "b"), "b", ["b"]),
        (("a", "b", "c"), "a+c", ["a", "c", "a+c"]),
        (("a", "b", "c", "d"), "b+c+d", ["b", "c", "d", "b+c+d"]),
        (("a", "b", "c", "d"), "a+d", ["a", "d", "a+d"]),
    ],
)
@pytest.mark.parametrize("criterion", ["label_kl", "posterior_kl", "metric_gap"])
def test_miner_finds_the_known_weak_set(modalities, weak, expected, criterion):
    miner = WeakCombinationMiner(modalities, 5, criterion=criterion)
    for epoch in range(3):
        logits, target = _crafted_logits(modalities, weak, seed=epoch)
        for start in range(0, 200, 64):  # several batches
            miner.update({n: v[start : start + 64] for n, v in logits.items()}, target[start : start + 64])
        miner.accumulate(epoch)
    assert miner.select() == expected, criterion
    assert len(miner.history_) == 3


def test_label_kl_scores_equal_reference():
    mods = ("a", "b", "c")
    logits, target = _crafted_logits(mods, "b+c", seed=4)
    miner = WeakCombinationMiner(mods, 5)
    miner.update(logits, target)
    scores = miner.compute().tolist()
    preds = {n: v.argmax(1).numpy() for n, v in logits.items()}
    assert scores == pytest.approx(reference_label_kl_scores(preds, miner.candidate_names, "a+b+c", 5), rel=1e-4)


def test_default_candidates_and_top_k():
    assert [combination_name(c) for c in default_candidates(("a", "b"))] == ["a", "b"]
    assert [combination_name(c) for c in default_candidates(("a", "b", "c"))] == ["a+b", "a+c", "b+c"]
    assert len(default_candidates(tuple("abcd"))) == 6 + 4  # pairs and triples
    miner = WeakCombinationMiner(("a", "b", "c"), 3, top_k=2)
    miner.scores_ += torch.tensor([0.1, 0.3, 0.2])
    assert miner.select() == ["a", "b", "c", "a+c", "b+c"]
    with pytest.raises(ValueError, match="top_k"):
        WeakCombinationMiner(("a", "b", "c"), 3, top_k=4)
    with pytest.raises(ValueError, match="full combination"):
        WeakCombinationMiner(("a", "b"), 3, candidates=["a+b"])


def test_weak_mask_marks_exactly_the_weak_combinations():
    miner = WeakCombinationMiner(("a", "b", "c"), 3)
    miner.weak_combinations_ = ["a", "c", "a+c"]
    masks = torch.tensor([[1, 0, 0], [0, 1, 0], [1, 0, 1], [1, 1, 1], [0, 0, 1]], dtype=torch.bool)
    assert miner.weak_mask(masks).tolist() == [True, False, True, False, True]


def test_state_round_trips_through_a_weights_only_checkpoint():
    mods = ("a", "b", "c")
    miner = WeakCombinationMiner(mods, 5)
    logits, target = _crafted_logits(mods, "a+b")
    miner.update(logits, target)
    miner.accumulate(2)
    miner.select()
    buffer = io.BytesIO()
    torch.save(miner.state_dict(), buffer)
    buffer.seek(0)
    restored = WeakCombinationMiner(mods, 5)
    restored.load_state_dict(torch.load(buffer, weights_only=True))
    assert restored.weak_combinations_ == miner.weak_combinations_ == ["a", "b", "a+b"]
    assert torch.equal(restored.scores_, miner.scores_)
    assert restored.history_ == miner.history_


def _ddp_worker(rank, world, port, logits, target, out):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        miner = WeakCombinationMiner(("a", "b", "c"), 5)
        shard = slice(rank, None, world)
        miner.update({n: v[shard] for n, v in logits.items()}, target[shard])
        scores = miner.accumulate(2)
        out[rank] = (scores, miner.select())
    finally:
        dist.destroy_process_group()


def test_two_process_gloo_mining_equals_one_process():
    import socket

    import torch.multiprocessing as mp

    logits, target = _crafted_logits(("a", "b", "c"), "b+c", n=301)
    single = WeakCombinationMiner(("a", "b", "c"), 5)
    single.update(logits, target)
    expected_scores = single.accumulate(2)
    expected_weak = single.select()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    manager = mp.Manager()
    out = manager.dict()
    mp.spawn(_ddp_worker, args=(2, port, logits, target, out), nprocs=2, join=True)
    for rank in range(2):
        scores, weak = out[rank]
        assert weak == expected_weak == ["b", "c", "b+c"], rank
        assert np.allclose(list(scores.values()), list(expected_scores.values()), rtol=1e-5), rank
