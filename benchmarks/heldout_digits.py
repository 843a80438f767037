"""Build the held-out carry-over set: scikit-learn's 8 x 8 handwritten digits as four views.

Each view is one 4 x 4 quadrant of the image (``tl``, ``tr``, ``bl``, ``br``; 16 pixel values,
0-16), so no view alone sees a whole digit and each pair sees half of it: M = 4 (15
combinations), a view count and a kind of view (parts of one image, not feature families) that no
choice of the study was made on. The study's setting ``quad`` reads the file this writes.

The digits (1797 images, 10 classes) are the test part of the UCI Optical Recognition of
Handwritten Digits data (Alpaydin and Kaynak, CC BY 4.0), as scikit-learn ships them
(``pip install scikit-learn``; nothing is downloaded).

    python benchmarks/heldout_digits.py            # writes benchmarks/data/digits_quad.npz
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import numpy as np

QUADRANTS = {"tl": (0, 0), "tr": (0, 4), "bl": (4, 0), "br": (4, 4)}  # view -> (row, column) of its corner
DEFAULT_PATH = Path(__file__).resolve().parent / "data" / "digits_quad.npz"


def quadrant_views(images: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
    """The npz arrays of the four-view set.

    Args:
        images: ``(N, 8, 8)`` pixel values.
        labels: ``(N,)`` integer classes.

    Returns:
        ``{view: (N, 16) float32}`` (each view's quadrant, row by row) and ``labels`` ``(N,)`` int64.
    """
    if images.ndim != 3 or images.shape[1:] != (8, 8):
        raise ValueError(f"images: expected shape (N, 8, 8), got {images.shape}")
    if labels.shape != images.shape[:1]:
        raise ValueError(f"labels: expected shape ({images.shape[0]},), got {labels.shape}")
    views = {
        view: images[:, r : r + 4, c : c + 4].reshape(len(images), 16).astype(np.float32)
        for view, (r, c) in QUADRANTS.items()
    }
    return {**views, "labels": labels.astype(np.int64)}


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` as an uncompressed npz to ``path`` atomically (a temp file, then a rename)."""
    from mmanet.io import atomic_write_bytes

    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    atomic_write_bytes(path, buffer.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_PATH)
    args = parser.parse_args()
    try:
        from sklearn.datasets import load_digits
    except ImportError as err:
        raise SystemExit("heldout_digits.py needs scikit-learn (pip install scikit-learn)") from err
    digits = load_digits()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_npz(args.out, quadrant_views(np.asarray(digits.images), np.asarray(digits.target)))
    print(f"wrote {args.out} ({len(digits.target)} samples, views {sorted(QUADRANTS)})")


if __name__ == "__main__":
    main()
