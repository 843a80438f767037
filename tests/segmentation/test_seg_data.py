"""Segmentation data: miniature NYUv2 / Cityscapes trees, synthetic scenes, joint augmentation."""

import numpy as np
import pytest
import torch

from mmanet.config import DataConfig
from mmanet.data import DataError, load_dataset, median_frequency_weights
from mmanet.data.seg_transforms import SegAugment
from mmanet.data.synthetic_scenes import make_scenes
from mmanet.data.trees import make_cityscapes, make_nyuv2

NYU = {"crop": [64, 96], "val_fraction": 0.2, "workers": False}


def test_nyuv2_loader_shapes_class_mapping_void_and_holes(tmp_path):
    make_nyuv2(tmp_path)
    source = load_dataset(DataConfig(dataset="nyuv2", root=str(tmp_path), options=NYU))
    assert source.task == "segmentation" and source.num_classes == 40
    assert source.input_shapes == {"rgb": (3, 64, 96), "depth": (1, 64, 96)}
    assert source.info["samples"] == {"train": 8, "val": 2, "test": 4}
    test = source.splits(0).datasets["test"][1]
    target = test["target"]
    assert target.dtype == torch.int64 and target.shape == (64, 96)
    raw = (np.arange(64)[:, None] // 4 + 1) % 41 * np.ones((64, 96), np.int64)  # sample 0001
    expected = np.where(raw == 0, 255, raw - 1)
    assert np.array_equal(target.numpy(), expected)  # void 0 -> 255, 1..40 -> 0..39
    depth = test["inputs"]["depth"][0]
    assert torch.all(depth[:3, :3] == 0)  # holes stay exactly 0
    mean, std = source.depth_stats["depth"]
    assert (mean, std) == (2841.9, 1417.3)
    valid = raw != 0
    assert np.allclose(depth.numpy()[valid][5:10], ((1000 + 50 * raw[valid][5:10]) - mean) / std, atol=1e-5)


def test_nyuv2_validation_comes_from_train_never_test(tmp_path):
    make_nyuv2(tmp_path, train=10, test=4)
    source = load_dataset(DataConfig(dataset="nyuv2", root=str(tmp_path), options=NYU))
    assert source.readers["val"][1] == 2 and source.readers["train"][1] == 8
    raw = (tmp_path / "test.txt").read_text().split()
    assert len(raw) == source.readers["test"][1]


def test_cityscapes_disparity_to_depth_and_labels(tmp_path):
    make_cityscapes(tmp_path)
    options = {"crop": [64, 128], "eval_size": [64, 128], "val_fraction": 0.25, "workers": False}
    source = load_dataset(DataConfig(dataset="cityscapes", root=str(tmp_path), options=options))
    assert source.num_classes == 19 and source.info["samples"] == {"train": 6, "val": 2, "test": 3}
    raw_sample, label = source.readers["test"][0](0)
    lab = (np.arange(128)[None, :] // 8) % 20 * np.ones((64, 128), np.int64)
    assert np.array_equal(label, np.where(lab == 0, 255, lab - 1))
    disparity = 10 + lab  # written as 1 + 256 * (10 + label)
    expected = 1000 * 0.209313 * 2262.52 / disparity
    assert np.allclose(raw_sample["depth"][:-2, :-2], expected[:-2, :-2], rtol=1e-5)
    assert np.all(raw_sample["depth"][-2:, -2:] == 0)


def test_bad_labels_and_missing_lists_are_clear_errors(tmp_path):
    make_nyuv2(tmp_path, train=4, test=2)
    with pytest.raises(DataError, match="split list not found"):
        load_dataset(DataConfig(dataset="cityscapes", root=str(tmp_path)))
    bad = np.full((64, 96), 77, np.uint8)
    from PIL import Image

    Image.fromarray(bad).save(tmp_path / "test" / "labels_40" / "0000.png")
    source = load_dataset(DataConfig(dataset="nyuv2", root=str(tmp_path), options=NYU))
    with pytest.raises(DataError, match=r"label values outside 0\.\.40"):
        source.readers["test"][0](0)
    with pytest.raises(DataError, match="unknown \\['crops'\\]"):
        load_dataset(DataConfig(dataset="nyuv2", root=str(tmp_path), options={"crops": 1}))


def test_joint_augmentation_keeps_images_and_label_aligned():
    label = torch.as_tensor((np.arange(40)[:, None] // 5 + np.arange(48)[None, :] // 6) % 7)
    images = {"depth": label[None].float() * 100 + 100, "ir": label[None].float() * 10 + 10}
    augment = SegAugment(crop=(32, 32), scale=(0.6, 1.5), ignore_index=255)
    for seed in range(20):
        params = augment.draw(torch.Generator().manual_seed(seed))
        out, lab = augment.geometry(images, label, params, {"depth": "nearest", "ir": "nearest"})
        assert lab.shape == (32, 32) and out["depth"].shape == (1, 32, 32)
        valid = lab != 255
        assert torch.equal(out["depth"][0][valid], lab[valid].float() * 100 + 100), seed
        assert torch.equal(out["ir"][0][valid], lab[valid].float() * 10 + 10), seed
        assert torch.all(out["depth"][0][~valid] == 0)  # padding


def test_synthetic_scenes_need_both_modalities():
    scenes = make_scenes(6, 64, 96, seed=3)
    rgb, depth, label = scenes["rgb"], scenes["depth"], scenes["label"]
    assert rgb.shape == (6, 64, 96, 3) and depth.shape == (6, 64, 96) and label.shape == (6, 64, 96)
    assert (depth == 0).any() and (label == 255).any()  # holes and void rings
    red_block = rgb[label == 1].mean(0)
    red_mat = rgb[label == 3].mean(0)
    assert np.abs(red_block - red_mat).max() < 25  # same colour: RGB cannot tell 1 from 3
    floor_minus = lambda c: np.median(depth[(label == c) & (depth > 0)])  # noqa: E731
    assert floor_minus(3) - floor_minus(1) > 300  # but depth can
    assert abs(floor_minus(1) - floor_minus(2)) < 150  # and depth cannot tell 1 from 2
    weights = median_frequency_weights(list(label), 5)
    assert len(weights) == 5 and all(w > 0 for w in weights)
