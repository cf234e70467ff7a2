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
