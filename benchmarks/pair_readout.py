"""Diagnostic for the six views' remaining shortfall (issue 10, docs/results.md): is a weak pair's
gap to its customized model in the encoders' features or in what the shared decoder reads from
them? A linear probe (``diagnostics.py``) found the round-4 encoders of ``fou+mor`` about as good
as the customized model's, while the customized network reads a point more out of its own; this
fits the customized model's own read-out (its decoder's architecture, trained the way it was)
on frozen features instead.

    python benchmarks/pair_readout.py --root runs/study --arm plus-r34-rerun --seeds 100-104 \
        --pairs fou+mor,fou+zer,pix+mor --json docs/records/diagnostics/pair_readout_tune_six.json

For each tuning seed and pair (validation split; the test split is not read), the accuracy of:

- ``unified``: the trained unified network under the pair (``--arm``'s model file);
- ``customized``: the pair's customized model, trained here with the study's configuration and
  seed (the study keeps no customized model files; its test scores are neither kept nor read);
- ``unified_network`` / ``customized_network``: each network's own validation curve under the
  pair (its run's log), read like the read-outs below;
- ``readout_<source>``: a fresh decoder of the customized model's architecture (the setting's
  ``mlp`` decoder on the pair's two encoder outputs side by side) trained on frozen features of
  ``source``: ``unified`` (the unified network's encoders), ``customized`` (the pair model's own)
  and ``specialists`` (each view's single-modality specialist, trained apart). Same optimiser,
  learning rate, weight decay, cosine schedule, epochs and batch size as the networks; one
  read-out seed per (seed, pair), the same for every source, so the sources are paired;
- ``tuned_unified``: the unified network's own decoder (its per-combination patches and
  statistics included) trained on under the pair alone, from its trained weights, on the frozen
  encoders: what a pair decoder started from the shared one would add (the same epochs and
  schedule; ``start`` is the decoder before any step);
- ``tuned_network``: the whole unified network (encoders, decoder) trained on under the pair alone
  from its trained weights, on the training split's inputs (same epochs and schedule): whether
  encoders that adapt to the pair from the unified solution reach the pair's own model
  (``start``: before any step);
- ``refit_fresh`` / ``refit_own``: one shared read-out for every combination, trained on the
  unified network's frozen encoders with each row under a combination drawn uniformly from the
  2^M - 1 (as dropout draws them), absent features filled as the network fills them: a fresh
  decoder (``cfg.model.decoder``, no per-combination parts) or the network's own decoder (its
  per-combination patches and statistics) trained on from its weights; the epoch is chosen on the
  validation mean over every combination, as the unified network's is. Each reports the pairs
  and ``mean`` (over every combination) at that epoch, beside ``unified_mean``.

Each pair read-out reports its best validation epoch (how every model of the study is selected, so
comparable with ``unified`` and ``customized``) and the mean over its last ten epochs (free of
that selection's optimism).
"""

from __future__ import annotations

import dataclasses
import math
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

sys.path.insert(0, str(Path(__file__).resolve().parent))
from curves import read_curve
from diagnostic_record import diagnostic_parser, seed_data, write_record
from study_arms import parse_seeds

READOUT_SEED = 7


@torch.no_grad()
def pair_features(net: Any, batches: list[dict[str, Any]], pair: tuple[str, ...]) -> tuple[Tensor, Tensor]:
    """The pair's encoder outputs side by side ``(N, D_a + D_b)`` and the targets ``(N,)``, from
    ``net`` in evaluation mode (``net`` may hold more modalities than the pair)."""
    net.eval()
    features, targets = [], []
    for batch in batches:
        encoded = net.modality_features(net.prepare({m: batch["inputs"][m] for m in net.modalities}))
        features.append(torch.cat([encoded[m].flatten(1) for m in pair], 1))
        targets.append(batch["target"])
    return torch.cat(features), torch.cat(targets)


@torch.no_grad()
def accuracy(net: Any, batches: list[dict[str, Any]], pair: tuple[str, ...]) -> float:
    """``net``'s validation accuracy (points) under ``pair``."""
    from mmanet.modality import combination_mask

    net.eval()
    right = rows = 0
    for batch in batches:
        target = batch["target"]
        mask = combination_mask(pair, net.modalities).expand(target.shape[0], -1)
        logits = net({m: batch["inputs"][m] for m in net.modalities}, mask).logits
        right += int((logits.argmax(1) == target).sum())
        rows += int(target.shape[0])
    return 100 * right / rows


def _optimiser(decoder: Any, cfg: Any, rows: int) -> tuple[Any, Any]:
    """Adam with the configuration's learning rate and weight decay, and a cosine schedule over its
    epochs of ``rows`` training rows in batches of ``cfg.data.batch_size`` (as the networks train)."""
    optimizer = torch.optim.Adam(decoder.parameters(), lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay)
    steps = cfg.optim.epochs * math.ceil(rows / cfg.data.batch_size)
    return optimizer, torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)


def _epoch(loss_of: Any, count: int, size: int, order: torch.Generator, optimizer: Any, schedule: Any) -> None:
    """One epoch over ``count`` training rows in a shuffled order drawn from ``order``, in batches of
    ``size`` (a last batch of one row is skipped: batch norm needs two); ``loss_of(rows)`` is the
    batch's loss."""
    for rows in torch.randperm(count, generator=order).split(size):
        if len(rows) < 2:
            continue
        loss = loss_of(rows)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()


def _summary(curve: list[float], start: float | None = None) -> dict[str, Any]:
    """A validation curve's best epoch, mean of its last ten epochs, ``start`` (if given) and itself."""
    out: dict[str, Any] = {"best": max(curve), "last10": sum(curve[-10:]) / 10}
    return out | ({} if start is None else {"start": start}) | {"curve": curve}


def fit_readout(
    train: tuple[Tensor, Tensor], val: tuple[Tensor, Tensor], cfg: Any, classes: int, decoder: Any = None
) -> list[float]:
    """Train a fresh decoder (``cfg.model.decoder``; or ``decoder``, a module mapping ``(B, D)`` to an
    output with ``.logits``) on frozen features ``train`` = ``((N, D), (N,))`` with the configuration's
    optimiser settings; its validation accuracy (points) after each epoch."""
    from mmanet.nn.decoders import build_decoder

    torch.manual_seed(READOUT_SEED)
    decoder = decoder if decoder is not None else build_decoder(cfg.model.decoder, (train[0].shape[1],), classes)
    optimizer, schedule = _optimiser(decoder, cfg, len(train[1]))
    epochs, size = cfg.optim.epochs, cfg.data.batch_size
    order = torch.Generator().manual_seed(READOUT_SEED)
    curve = []
    for _ in range(epochs):
        decoder.train()
        _epoch(
            lambda rows: F.cross_entropy(decoder(train[0][rows]).logits, train[1][rows]),
            len(train[1]),
            size,
            order,
            optimizer,
            schedule,
        )
        curve.append(_pair_accuracy(decoder, val))
    return curve


def _rows(prepared: Any, rows: Tensor) -> Any:
    """``prepared`` (:meth:`prepare`'s tuple of per-modality dicts, or ``None``) restricted to ``rows``."""
    return tuple(None if part is None else {m: f[rows] for m, f in part.items()} for part in prepared)


def uniform_masks(count: int, modalities: int, generator: torch.Generator) -> Tensor:
    """``(count, M)`` masks, each row's combination drawn uniformly from the 2^M - 1 non-empty ones."""
    codes = torch.randint(1, 2**modalities, (count,), generator=generator)
    return (codes[:, None] >> torch.arange(modalities)) & 1 == 1


@torch.no_grad()
def _scores(net: Any, decoder: Any, prepared: Any, target: Tensor, names: list[str]) -> dict[str, float]:
    """Validation accuracy (points) of ``decoder`` on ``net``'s fused features under each combination."""
    from mmanet.modality import combination_mask, parse_combination
    from mmanet.nn.patches import conditioned

    out = {}
    for name in names:
        mask = combination_mask(parse_combination(name, net.modalities), net.modalities).expand(len(target), -1)
        with conditioned(decoder, mask):
            logits = decoder(net.fused_from(prepared, mask)).logits
        out[name] = 100 * float((logits.argmax(1) == target).float().mean())
    return out


def refit(
    net: Any, own: bool, train: list[dict[str, Any]], val: list[dict[str, Any]], cfg: Any, classes: int
) -> dict[str, Any]:
    """A shared read-out trained on ``net``'s frozen encoders under uniformly drawn combinations (``own``:
    ``net``'s decoder trained on from its weights; else a fresh ``cfg.model.decoder``); per combination,
    its validation accuracy at the epoch with the best mean over every combination."""
    import copy

    from mmanet.modality import all_combinations, combination_name
    from mmanet.nn.decoders import build_decoder
    from mmanet.nn.patches import conditioned

    net = copy.deepcopy(net).eval()
    for parameter in net.parameters():
        parameter.requires_grad_(False)
    with torch.no_grad():
        pre_train = net.prepare({m: torch.cat([b["inputs"][m] for b in train]) for m in net.modalities})
        pre_val = net.prepare({m: torch.cat([b["inputs"][m] for b in val]) for m in net.modalities})
    y_train, y_val = torch.cat([b["target"] for b in train]), torch.cat([b["target"] for b in val])
    torch.manual_seed(READOUT_SEED)
    decoder = net.decoder if own else build_decoder(cfg.model.decoder, net.fused_shape, classes)
    for parameter in decoder.parameters():
        parameter.requires_grad_(True)
    optimizer, schedule = _optimiser(decoder, cfg, len(y_train))
    epochs, size = cfg.optim.epochs, cfg.data.batch_size
    draws = torch.Generator().manual_seed(READOUT_SEED)
    names = [combination_name(c) for c in all_combinations(net.modalities)]
    best: dict[str, float] = {}
    for _ in range(epochs):
        decoder.train()

        def loss_of(rows: Tensor) -> Tensor:
            mask = uniform_masks(len(rows), len(net.modalities), draws)
            with conditioned(decoder, mask):
                logits = decoder(net.fused_from(_rows(pre_train, rows), mask)).logits
            return F.cross_entropy(logits, y_train[rows])

        _epoch(loss_of, len(y_train), size, draws, optimizer, schedule)
        decoder.eval()
        scores = _scores(net, decoder, pre_val, y_val, names)
        scores["mean"] = sum(scores.values()) / len(names)
        if scores["mean"] > best.get("mean", -1.0):
            best = scores
    return best


class PairDecoder(torch.nn.Module):
    """A copy of ``net``'s decoder read under one combination: maps the pair's features side by side
    ``(B, D_a + D_b)`` to the decoder's output on the fused vector with the other modalities' blocks
    zero, as ``net`` fuses them (zero fill and one encoding per modality only: a network with learned
    absent features or alone patches is refused)."""

    def __init__(self, net: Any, pair: tuple[str, ...]) -> None:
        import copy

        from mmanet.modality import combination_mask

        super().__init__()
        if net.absent_embeddings is not None or net.encodes_alone:
            raise ValueError("PairDecoder: the network fills absent modalities or encodes them alone otherwise")
        self.decoder = copy.deepcopy(net.decoder)
        self.mask_row = combination_mask(pair, net.modalities)
        widths = {m: int(torch.tensor(net.modality_feature_shapes()[m]).prod()) for m in net.modalities}
        self.slots = [(m in pair, widths[m]) for m in net.modalities]

    def forward(self, features: Tensor) -> Any:
        from mmanet.nn.patches import conditioned

        parts, at = [], 0
        for present, width in self.slots:
            if present:
                parts.append(features[:, at : at + width])
                at += width
            else:
                parts.append(features.new_zeros(features.shape[0], width))
        with conditioned(self.decoder, self.mask_row.expand(features.shape[0], -1)):
            return self.decoder(torch.cat(parts, 1))


def tune_network(
    net: Any, pair: tuple[str, ...], train: list[dict[str, Any]], val: list[dict[str, Any]], cfg: Any
) -> list[float]:
    """A copy of ``net`` trained on, every parameter, under ``pair`` alone with the configuration's
    optimiser settings (``net`` is left as it was); its validation accuracy (points) after each epoch."""
    import copy

    from mmanet.modality import combination_mask

    tuned = copy.deepcopy(net)
    for parameter in tuned.parameters():
        parameter.requires_grad_(True)
    inputs = {m: torch.cat([b["inputs"][m] for b in train]) for m in net.modalities}
    target = torch.cat([b["target"] for b in train])
    torch.manual_seed(READOUT_SEED)
    optimizer, schedule = _optimiser(tuned, cfg, len(target))
    order = torch.Generator().manual_seed(READOUT_SEED)
    row = combination_mask(pair, net.modalities)
    curve = []
    for _ in range(cfg.optim.epochs):
        tuned.train()
        _epoch(
            lambda rows: F.cross_entropy(
                tuned({m: x[rows] for m, x in inputs.items()}, row.expand(len(rows), -1)).logits, target[rows]
            ),
            len(target),
            cfg.data.batch_size,
            order,
            optimizer,
            schedule,
        )
        curve.append(accuracy(tuned, val, pair))
    return curve


def _customized(data: Any, pair_name: str, scratch: Path) -> tuple[Any, list[float]]:
    """The pair's customized model, trained as the study trains it (``study.py``'s customized chunks),
    and its validation accuracy (points) after each epoch, from its run's log."""
    from mmanet.modelfile import load_model_file
    from mmanet.training import METHODS, train_per_combination

    root = scratch / pair_name
    run = train_per_combination(dataclasses.replace(data, root=root), METHODS["customized"], only=[pair_name])
    curve = read_curve(root / "customized" / pair_name / "logs" / "metrics.csv", pair_name, "accuracy")
    return load_model_file(run.model_path).entries[0].net, curve


def seed_record(root: Path, arm: str, setting: str, seed: int, pairs: list[str]) -> dict[str, Any]:
    """Per pair: the networks' accuracies and each read-out's best-epoch and last-ten-epoch accuracy."""
    from mmanet.modality import all_combinations, combination_name, parse_combination
    from mmanet.modelfile import load_model_file

    data, module = seed_data(setting, seed)
    train, val = list(module.train_dataloader()), list(module.val_dataloader())
    tune = root / "tune" / setting
    unified_run = next((tune / arm).glob(f"seed_{seed}*/seed_{seed}/mmanet-plus"))
    unified_net = load_model_file(unified_run / "model.pt").entries[0].net
    specialists = {
        entry.serves[0][0]: entry.net
        for entry in load_model_file(
            tune / "specialists" / f"seed_{seed}" / f"seed_{seed}" / "specialists" / "model.pt"
        ).entries
    }
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for name in pairs:
            pair = parse_combination(name, unified_net.modalities)
            own, own_curve = _customized(data, name, Path(scratch))
            row: dict[str, Any] = {"unified": accuracy(unified_net, val, pair), "customized": accuracy(own, val, pair)}
            row["unified_network"] = _summary(read_curve(unified_run / "logs" / "metrics.csv", name, "accuracy"))
            row["customized_network"] = _summary(own_curve)
            sources = {"unified": unified_net, "customized": own}
            joint = {k: (pair_features(n, train, pair), pair_features(n, val, pair)) for k, n in sources.items()}
            single = [
                (pair_features(specialists[m], train, (m,)), pair_features(specialists[m], val, (m,))) for m in pair
            ]
            joint["specialists"] = tuple((torch.cat([s[i][0] for s in single], 1), single[0][i][1]) for i in range(2))
            for source, (tr, va) in joint.items():
                row[f"readout_{source}"] = _summary(fit_readout(tr, va, data.cfg, data.source.num_classes))
            tuned = PairDecoder(unified_net, pair)
            start = _pair_accuracy(tuned, joint["unified"][1])
            curve = fit_readout(*joint["unified"], data.cfg, data.source.num_classes, decoder=tuned)
            row["tuned_unified"] = _summary(curve, start)
            row["tuned_network"] = _summary(tune_network(unified_net, pair, train, val, data.cfg), row["unified"])
            out[name] = row
            print(f"seed {seed} {name}: " + ", ".join(f"{k} {_short(v)}" for k, v in row.items()), flush=True)
    names = [combination_name(c) for c in all_combinations(unified_net.modalities)]
    own_scores = {n: accuracy(unified_net, val, parse_combination(n, unified_net.modalities)) for n in names}
    out["unified_mean"] = sum(own_scores.values()) / len(names)
    for label, own in (("refit_fresh", False), ("refit_own", True)):
        scores = refit(unified_net, own, train, val, data.cfg, data.source.num_classes)
        out[label] = {k: scores[k] for k in [*pairs, "mean"]}
        print(f"seed {seed} {label}: {out[label]} (unified mean {out['unified_mean']:.2f})", flush=True)
    return out


@torch.no_grad()
def _pair_accuracy(decoder: Any, val: tuple[Tensor, Tensor]) -> float:
    """``decoder``'s accuracy (points, evaluation mode) on features and targets ``val``."""
    decoder.eval()
    return 100 * float((decoder(val[0]).logits.argmax(1) == val[1]).float().mean())


def _short(value: Any) -> str:
    return f"{value:.2f}" if isinstance(value, float) else f"{value['best']:.2f}/{value['last10']:.2f}"


def main() -> None:
    parser = diagnostic_parser(__doc__ or "", "plus-r34-rerun")
    parser.add_argument("--setting", default="six", choices=["trio", "six"])
    parser.add_argument("--pairs", default="fou+mor,fou+zer,pix+mor")
    args = parser.parse_args()
    torch.set_num_threads(1)
    pairs = args.pairs.split(",")
    per_seed = {
        str(seed): seed_record(args.root, args.arm, args.setting, seed, pairs) for seed in parse_seeds(args.seeds)
    }
    record = {"arm": args.arm, "setting": args.setting, "split": "val", "pairs": pairs, "per_seed": per_seed}
    write_record(args.json, "pair_readout.py", record)


if __name__ == "__main__":
    main()
