import pytest

from mmanet.config import ConfigError, ExperimentConfig, load_config, to_dict


def test_defaults_then_file_then_overrides(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text("optim:\n  lr: 0.01\n  epochs: 7\nseeds: [1, 2]\n")
    cfg = load_config(path, ["optim.lr=0.5", "data.modalities=[pix, fou]"])
    assert cfg.optim.lr == 0.5  # override beats file
    assert cfg.optim.epochs == 7  # file beats default
    assert cfg.optim.optimizer == "adam"  # default kept
    assert cfg.seeds == [1, 2]
    assert cfg.data.modalities == ["pix", "fou"]
    assert isinstance(cfg, ExperimentConfig)


def test_round_trip_through_dict():
    cfg = load_config(None, ["optim.lr=0.3"])
    assert load_config(None, [f"optim.lr={cfg.optim.lr}"]) == cfg
    assert to_dict(cfg)["optim"]["lr"] == 0.3


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("optim.lrr=1", "optim.lrr"),
        ("optim.lr=fast", "optim.lr"),
        ("optim.epochs=1.5", "optim.epochs"),
        ("optim.optimizer=rmsprop", "optim.optimizer"),
        ("optim.lr=-1", "optim.lr"),
        ("mar.begin_epoch=1", "mar.begin_epoch"),
        ("distill.alpha=-2", "distill.alpha"),
        ("data.split=[0.5, 0.5]", "data.split"),
        ("seeds=[]", "seeds"),
        ("nonsense=3", "nonsense"),
        ("data.batch_size=true", "data.batch_size"),
    ],
)
def test_bad_values_name_the_key(override, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(None, [override])


def test_component_spec_replaced_when_its_name_changes():
    cfg = load_config(None, ["model.decoder={name: tiny, hidden: 4}"])
    assert cfg.model.decoder == {"name": "tiny", "hidden": 4}  # no 'dropout' leaking from the mlp default
    cfg = load_config(None, ["model.decoder.hidden=7"])
    assert cfg.model.decoder["hidden"] == 7 and cfg.model.decoder["name"] == "mlp"


def test_unreadable_file_is_a_config_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("- a list\n- not a mapping\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")


def test_architecture_auto_follows_the_task():
    from mmanet.config import ModelConfig

    assert ModelConfig().for_task("classification").architecture == "concat"
    seg = ModelConfig().for_task("segmentation")
    assert seg.architecture == "esanet" and seg.decoder == {"name": "esanet"}
    with pytest.raises(ConfigError, match=r"model\.architecture"):
        ModelConfig(architecture="concat").for_task("segmentation")
