import pytest
import torch
from torch.utils.data import DataLoader

from mmanet.config import DataConfig
from mmanet.data import CasiaSurfSource, CefaSource, DataError, load_dataset
from mmanet.data.images import ImageAugment, ImageSample, ImageSampleDataset
from mmanet.data.trees import make_casia_surf, make_cefa, write_image

SMALL = {"image_size": 16, "resize": 20}


def test_casia_surf_loads_splits_labels_and_shapes(tmp_path):
    make_casia_surf(tmp_path)
    source = load_dataset(
        DataConfig(dataset="casia-surf", root=str(tmp_path), options={**SMALL, "channels": {"depth": 1, "ir": 1}})
    )
    assert source.modalities == ("rgb", "depth", "ir")
    assert source.input_shapes == {"rgb": (3, 16, 16), "depth": (1, 16, 16), "ir": (1, 16, 16)}
    assert source.task == "anti_spoofing" and source.task_options == {"bona_fide": 1}
    assert source.info["samples"] == {"train": 24, "val": 12, "test": 12}
    splits = source.splits(seed=0)
    assert splits.labels["train"].tolist() == [i % 2 for i in range(24)]
    item = splits.datasets["test"][3]
    assert item["inputs"]["rgb"].shape == (3, 16, 16) and item["inputs"]["depth"].shape == (1, 16, 16)
    assert item["present"].tolist() == [True, True, True] and int(item["target"]) == 1
    assert float(item["inputs"]["rgb"].max()) <= 1.0 and float(item["inputs"]["rgb"].min()) >= -1.0  # (x - 127.5) / 128


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("a.jpg b.jpg 1", "expected 'rgb_path depth_path ir_path label'"),
        ("a.jpg b.jpg c.jpg 7", "label 0 or 1"),
        ("../../etc/passwd b.jpg c.jpg 1", "escapes the dataset root"),
        ("/abs/a.jpg b.jpg c.jpg 1", "must be relative"),
    ],
)
def test_malformed_list_lines_name_file_and_line(tmp_path, line, message):
    make_casia_surf(tmp_path)
    listing = tmp_path / "val_private_list.txt"
    listing.write_text(listing.read_text() + line + "\n")
    with pytest.raises(DataError, match=message) as info:
        CasiaSurfSource(tmp_path, options=SMALL)
    assert "val_private_list.txt:13" in str(info.value)


def test_missing_and_corrupt_files_error_or_become_absent(tmp_path):
    make_casia_surf(tmp_path)
    first = (tmp_path / "train_list.txt").read_text().splitlines()[0].split()
    (tmp_path / first[1]).unlink()  # depth of train sample 0 missing
    second = (tmp_path / "train_list.txt").read_text().splitlines()[1].split()
    (tmp_path / second[2]).write_bytes(b"this is not an image")  # ir of train sample 1 corrupt
    with pytest.raises(DataError, match=r"missing file .*train_list\.txt:1"):
        CasiaSurfSource(tmp_path, options=SMALL)
    source = CasiaSurfSource(tmp_path, options={**SMALL, "on_missing": "absent"})
    assert source.info["missing"]["train"] == {"rgb": 0, "depth": 1, "ir": 1}
    train = source.splits(0).datasets["train_eval"]
    assert train[0]["present"].tolist() == [True, False, True]
    assert train[1]["present"].tolist() == [True, True, False]
    assert torch.count_nonzero(train[0]["inputs"]["depth"]) == 0
    (tmp_path / first[1]).write_bytes(b"")  # back, but empty: unreadable
    with pytest.raises(DataError, match=r"unreadable image .*train_list\.txt:1"):
        CasiaSurfSource(tmp_path, options={**SMALL, "check_images": True})


def test_truncated_image_found_at_load_time(tmp_path):
    path = tmp_path / "a.png"
    write_image(path, 200)
    path.write_bytes(path.read_bytes()[:60])  # header intact, pixels cut
    sample = ImageSample({"rgb": path}, 1, "list.txt:9")
    augment = ImageAugment(8, 10)
    with pytest.raises(DataError, match=r"a\.png: unreadable image \(listed at list.txt:9\)"):
        ImageSampleDataset([sample], ["rgb"], {"rgb": 3}, augment, train=False)[0]
    with pytest.raises(DataError, match=r"sample listed at list.txt:9: no image of it could be read \(.*a\.png\)"):
        ImageSampleDataset([sample], ["rgb"], {"rgb": 3}, augment, train=False, on_missing="absent")[0]
    good = tmp_path / "b.png"
    write_image(good, 100)
    pair = ImageSample({"rgb": path, "ir": good}, 1, "list.txt:9")
    absent = ImageSampleDataset([pair], ["rgb", "ir"], {"rgb": 3, "ir": 3}, augment, train=False, on_missing="absent")[
        0
    ]
    assert absent["present"].tolist() == [False, True]


def test_a_jpeg_cut_after_its_header_is_found_before_training(tmp_path):
    root = make_casia_surf(tmp_path / "surf")
    line = (root / "train_list.txt").read_text().splitlines()[2]
    depth = root / line.split()[1]
    depth.write_bytes(depth.read_bytes()[:200])  # header intact, scan cut
    with pytest.raises(DataError, match=rf"{depth.name}: unreadable image \(listed at .*train_list.txt:3\)"):
        CasiaSurfSource(root)
    source = CasiaSurfSource(root, options={"on_missing": "absent"})
    assert source.info["missing"]["train"]["depth"] == 1


def test_joint_augmentation_is_identical_across_modalities_and_keyed_on_epoch(tmp_path):
    path = tmp_path / "x.png"
    write_image(path, 180, size=30, seed=1)
    sample = ImageSample({"a": path, "b": path, "c": path}, 1, "here")
    dataset = ImageSampleDataset(
        [sample] * 4, ["a", "b", "c"], {"a": 3, "b": 3, "c": 1}, ImageAugment(16, 24, 30.0), train=True, seed=5
    )
    item = dataset[(2, 7)]
    assert torch.equal(item["inputs"]["a"], item["inputs"]["b"])
    assert torch.allclose(
        item["inputs"]["a"].mean(0, keepdim=True), item["inputs"]["c"], atol=1.5 / 128
    )  # same geometry, gray
    assert torch.equal(dataset[(2, 7)]["inputs"]["a"], item["inputs"]["a"])  # deterministic
    assert not torch.equal(dataset[(2, 8)]["inputs"]["a"], item["inputs"]["a"])  # other epoch, other draw
    plain = ImageSampleDataset([sample], ["a"], {"a": 3}, ImageAugment(16, 24), train=False)[0]["inputs"]["a"]
    assert plain.shape == (3, 16, 16)


def test_worker_processes_give_the_same_batches(tmp_path):
    make_casia_surf(tmp_path, {"train": 8, "val": 4, "test": 4})
    dataset = CasiaSurfSource(tmp_path, options=SMALL).splits(0).datasets["train"]
    keys = [(i, 3) for i in range(8)]
    single = next(iter(DataLoader(dataset, batch_size=8, sampler=keys, num_workers=0)))
    multi = next(iter(DataLoader(dataset, batch_size=8, sampler=keys, num_workers=2)))
    for m in ("rgb", "depth", "ir"):
        assert torch.equal(single["inputs"][m], multi["inputs"][m])


def test_cefa_protocol_splits_labels_and_alignment(tmp_path):
    make_cefa(tmp_path)
    source = CefaSource(tmp_path, options={**SMALL, "protocol": "4@5"})
    assert source.task_options == {"bona_fide": 0}
    splits = source.splits(0)

    def videos(split):
        return sorted({s.where.split("/")[2] for s in source.samples[split]})

    assert videos("train") == ["3_005_1_1_1", "3_005_1_1_4", "3_005_3_1_1", "3_005_3_1_4"]  # EA, ID < 200, PAI {1, 4}
    assert videos("val") == ["3_250_1_1_1", "3_250_1_1_4", "3_250_3_1_1", "3_250_3_1_4"]
    assert videos("test") == ["1_350_1_1_1", "1_350_1_1_2", "1_350_3_1_1", "1_350_3_1_2"]  # AF, ID 300-499, PAI {1, 2}
    assert len(source.samples["train"]) == 4 * 3  # 3 frames each
    labels = {s.where.split("/")[2]: s.label for s in source.samples["test"]}
    assert labels["1_350_1_1_1"] == 0 and labels["1_350_1_1_2"] == 1  # bona fide = 0
    for s in source.samples["train"]:
        assert len({p.name for p in s.paths.values()}) == 1  # same frame in every modality
    assert splits.labels["val"].tolist().count(0) == 6


def test_cefa_missing_frame_and_bad_protocol(tmp_path):
    make_cefa(tmp_path, frames=2)
    (tmp_path / "EA" / "EA-005" / "3_005_1_1_1" / "ir" / "0001.jpg").unlink()
    with pytest.raises(DataError, match="frame '0001' has no ir image"):
        CefaSource(tmp_path, options={**SMALL, "protocol": "4@5"})
    source = CefaSource(tmp_path, options={**SMALL, "protocol": "4@5", "on_missing": "absent"})
    assert source.info["missing"]["train"]["ir"] == 1
    with pytest.raises(DataError, match="unknown CeFA protocol '4@9'"):
        CefaSource(tmp_path, options={"protocol": "4@9"})
    with pytest.raises(DataError, match="unknown \\['colour'\\]"):
        CefaSource(tmp_path, options={"colour": 1})


def test_dataset_root_is_required(tmp_path):
    with pytest.raises(DataError, match="--data-root"):
        load_dataset(DataConfig(dataset="cefa"))
    with pytest.raises(DataError, match="list file not found"):
        load_dataset(DataConfig(dataset="casia-surf", root=str(tmp_path)))
