"""Checkpoint/resume: an interrupted and resumed run ends exactly where the uninterrupted run ends."""

import pytest
import torch

from imcsim.errors import CheckpointError
from imcsim.train.data import load_dataset
from imcsim.train.trainer import CHECKPOINT, TrainConfig, train


@pytest.fixture(scope="module")
def data():
    n = torch.get_num_threads()
    torch.set_num_threads(1)  # small batches: one thread is faster and immune to a busy machine
    yield load_dataset("mnist-5k")
    torch.set_num_threads(n)


def _cfg(**kw):
    base = dict(dataset="mnist-5k", target="tpu-imac", pretrain_epochs=1, epochs=2, batch_size=64,
                train_limit=128, test_limit=64, noise_aware=True, seed=3,
                imac={"device": {"variation": 0.1, "read_noise": 0.02, "stuck_low_rate": 0.01},
                      "adc": {"bits": 6, "inl_lsb": 0.5, "offset_sigma_lsb": 0.5}})
    base.update(kw)
    return TrainConfig(**base)


def _strip(history):
    return [{k: v for k, v in h.items() if k != "epoch_seconds"} for h in history]


def test_resume_equals_uninterrupted_run(tmp_path, data):
    cfg = _cfg()
    full = train(cfg, tmp_path / "a", progress=False, data=data)
    part = train(cfg, tmp_path / "b", progress=False, data=data, stop_after=1)  # interrupted after the float phase
    assert len(part.history) == 1 and not (tmp_path / "b" / "deployment.json").exists()
    part = train(cfg, tmp_path / "b", resume=True, progress=False, data=data, stop_after=2)  # mid-phase stop
    assert len(part.history) == 2
    resumed = train(cfg, tmp_path / "b", resume=True, progress=False, data=data)
    assert _strip(resumed.history) == _strip(full.history)
    sa, sb = full.model.state_dict(), resumed.model.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k
    assert [h["phase"] for h in full.history] == ["float", "tpu-imac", "tpu-imac"]


def test_resume_refuses_a_different_config(tmp_path, data):
    cfg = _cfg(pretrain_epochs=0, epochs=1, noise_aware=False)
    train(cfg, tmp_path, progress=False, data=data)
    with pytest.raises(CheckpointError, match="run was started with seed = 3, not 4"):
        train(cfg.model_copy(update={"seed": 4}), tmp_path, resume=True, progress=False, data=data)
    (tmp_path / CHECKPOINT).write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="cannot load checkpoint"):
        train(cfg, tmp_path, resume=True, progress=False, data=data)
    with pytest.raises(CheckpointError, match="no checkpoint"):
        train(cfg, tmp_path / "nothing", resume=True, progress=False, data=data)


def test_training_defaults_to_the_target_systems_imac_unit():
    """tpu-imac and cpu-imac runs train on the IMAC unit `compare --arch <target>` costs (sot-mram-imac: MTJ
    synapses, R_P = 10 ohm um^2 / (pi/4 * 0.05 um * 0.03 um) = 8,488 ohm), with the fields a user gives on top."""
    import math

    from imcsim.config.presets import load_preset
    from imcsim.train.config import TrainConfig

    r_p = 10.0 / (math.pi / 4 * 0.05 * 0.03)
    for target in ("tpu-imac", "cpu-imac"):
        cfg = TrainConfig(target=target)
        assert cfg.imac == load_preset("sot-mram-imac")
        assert cfg.imac.device.resistances[0] == pytest.approx(r_p, rel=1e-9)
    mixed = TrainConfig(imac={"device": {"variation": 0.1}, "adc": {"bits": 6}})
    assert (mixed.imac.device.kind, mixed.imac.device.variation, mixed.imac.adc.bits) == ("mtj", 0.1, 6)
    assert TrainConfig(imac={"device": {"r_low_ohm": 4e3}}).imac.device.resistances[0] == 4e3
    # a stored config round-trips unchanged
    assert TrainConfig.model_validate(mixed.model_dump(mode="json")) == mixed
