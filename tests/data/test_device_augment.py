"""The device augmentation path applies the CPU path's transform with the same keyed parameters;
the image cache changes nothing but speed."""

import numpy as np
import pytest
import torch
from PIL import Image

from mmanet.cli import main
from mmanet.data import CasiaSurfSource
from mmanet.data.device_augment import augment_on_device
from mmanet.data.image_cache import ImageCache
from mmanet.data.images import ImageAugment
from mmanet.data.trees import make_casia_surf


def _smooth_image(seed: int, side: int = 60) -> Image.Image:
    yy, xx = np.mgrid[0:side, 0:side] / side
    rng = np.random.default_rng(seed)
    a, b = rng.uniform(2, 5, 2)
    array = 127 + 100 * np.sin(a * xx * 3 + b * yy * 2) * np.cos(b * yy * 3)
    return Image.fromarray(np.stack([array, array[::-1], array.T], -1).astype(np.uint8))


@pytest.mark.parametrize("seed", range(4))
def test_device_path_matches_the_cpu_path_with_the_same_parameters(seed):
    augment = ImageAugment(size=48, resize=60, rotation=30.0)
    image = _smooth_image(seed)
    params = augment.draw(torch.Generator().manual_seed(seed))
    cpu = augment.apply(image, params)
    device = augment_on_device(augment.prepare(image, True)[None], augment.vector(params)[None], 48)[0]
    difference = (cpu - device).abs().flatten()
    assert float(difference.quantile(0.5)) < 0.006, params  # half a grey level: Pillow rotates in uint8
    assert float(difference.quantile(0.95)) < 0.01, params  # only the edge of the black fill differs more
    assert float(difference.mean()) < 0.02, params


def test_no_rotation_crop_and_flip_are_exact():
    augment = ImageAugment(size=40, resize=60, rotation=0.0)
    image = _smooth_image(7)
    params = {"angle": 0.0, "left": 11, "top": 5, "flip": True}
    cpu = augment.apply(image, params)
    device = augment_on_device(augment.prepare(image, True)[None], augment.vector(params)[None], 40)[0]
    torch.testing.assert_close(device, cpu, atol=1e-5, rtol=0)


def test_training_batches_carry_the_same_parameters_as_the_cpu_path(tmp_path):
    root = make_casia_surf(tmp_path / "surf", {"train": 6, "val": 4, "test": 4})
    cpu, device = CasiaSurfSource(root), CasiaSurfSource(root, options={"augment": "device"})
    a, b = cpu.splits(3).datasets["train"], device.splits(3).datasets["train"]
    for key in [(0, 0), (2, 5), (5, 1)]:
        plain, raw = a[key], b[key]
        params = a.augment.draw(torch.Generator().manual_seed((3 * 1_000_003 + key[1]) * 1_000_033 + key[0]))
        torch.testing.assert_close(raw["augment"], a.augment.vector(params))
        assert raw["inputs"]["rgb"].dtype == torch.uint8 and raw["inputs"]["rgb"].shape[-1] == a.augment.resize
        inputs = {m: x[None] for m, x in raw["inputs"].items()}
        moved = device.batch_transform()({**raw, "augment": raw["augment"][None], "inputs": inputs})
        assert moved["inputs"]["rgb"].shape[1:] == plain["inputs"]["rgb"].shape
    assert "augment" not in device.splits(3).datasets["val"][0]  # evaluation is unchanged


def test_the_image_cache_gives_identical_samples(tmp_path):
    root = make_casia_surf(tmp_path / "surf", {"train": 6, "val": 4, "test": 4})
    plain = CasiaSurfSource(root).splits(0).datasets
    cached = CasiaSurfSource(root, options={"cache": str(tmp_path / "cache")}).splits(0).datasets
    for split in ("train", "val"):
        cached[split].prepare()
        for key in [(0, 0), (3, 2)]:
            for m in ("rgb", "depth", "ir"):
                torch.testing.assert_close(cached[split][key]["inputs"][m], plain[split][key]["inputs"][m])
    assert len(list((tmp_path / "cache").iterdir())) == 2  # one cache per split and side, built once
    ImageCache(tmp_path / "cache", [], ("rgb",), {"rgb": 3}, 8).prepare()  # an empty split is fine


@pytest.mark.slow
def test_a_run_with_device_augmentation_and_a_cache_trains(tmp_path):
    root = make_casia_surf(tmp_path / "surf", {"train": 16, "val": 8, "test": 8})
    args = ["run", "--dataset", "casia-surf", "--data-root", str(root), "--methods", "dropout", "--epochs", "2"]
    args += [
        "--set",
        "data.options={augment: device, cache: " + str(tmp_path / "cache") + ", image_size: 32, resize: 40}",
    ]
    args += ["--set", "model.encoders={default: {name: tiny, dim: 4}}", "--set", "model.decoder={name: tiny}"]
    args += ["--set", "data.num_workers=0", "--seeds", "0", "--out", str(tmp_path / "run"), "--no-progress"]
    assert main(args) == 0
    assert (tmp_path / "run" / "report.json").exists() and any((tmp_path / "cache").iterdir())
