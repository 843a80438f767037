"""Peak extra memory and time of dense MAD (issue 4) at B = 8 with 30 x 40 maps, by chunk size.

    python benchmarks/dense_mad_memory.py --json docs/dense_mad_memory.json

The three maps (ESANet-34 at 480 x 640) pool to 15 x 20, 30 x 40 and 30 x 40, so the largest
has N = B * 30 * 40 = 9600 pixel rows; the unchunked Gram matrices alone are N x N floats (368 MB
each). Chunking keeps O(chunk * N) alive, recomputing each chunk in the backward pass. Peak
memory is measured on a CUDA device (``torch.cuda.max_memory_allocated``) minus the memory
held before the call; on CPU only the time is reported.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from mmanet.io import atomic_write_text
from mmanet.losses import dense_mad_loss

SHAPES = ((512, 15, 20), (256, 30, 40), (128, 60, 80))  # ESANet-34 at 480 x 640: context 1/32, skips 1/16 and 1/8


def measure(chunk: int, device: torch.device) -> dict[str, float]:
    generator = torch.Generator(device="cpu").manual_seed(0)
    student = [torch.randn(8, *s, generator=generator).to(device).requires_grad_(True) for s in SHAPES]
    teacher = [torch.randn(8, *s, generator=generator).to(device) for s in SHAPES]
    logits = torch.randn(8, 40, 120, 160, generator=generator).to(device)
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    start = time.perf_counter()
    loss = dense_mad_loss(student, teacher, logits, max_size=(30, 40), chunk=chunk)
    loss.backward()
    if device.type == "cuda":
        torch.cuda.synchronize()
    out = {"chunk": chunk, "seconds": time.perf_counter() - start, "loss": float(loss)}
    if device.type == "cuda":
        out["peak_extra_mib"] = (torch.cuda.max_memory_allocated() - base) / 2**20
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--chunks", default="256,1024,4096,9600")
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    rows = [measure(int(c), device) for c in args.chunks.split(",")]
    result = {
        "device": torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu",
        "batch": 8,
        "maps": SHAPES,
        "pooled_to": [30, 40],
        "runs": rows,
    }
    atomic_write_text(args.json, json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
