"""Accuracy as a sweep objective: each point's accuracy is `imcsim evaluate`'s Monte Carlo accuracy of the deployment
with the point's IMAC settings."""

import pytest
import torch
import yaml

from imcsim.explore import load_spec, open_store, run_sweep
from imcsim.train.data import load_dataset
from imcsim.train.evaluate import HardwareChanges, evaluate_run
from imcsim.train.trainer import TrainConfig, train


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("run")
    cfg = TrainConfig(dataset="mnist-5k", target="tpu-imac", epochs=1, batch_size=32, lr=3e-3, seed=1)
    train(cfg, out, progress=False, data=load_dataset("mnist-5k").subset(1000, 200))
    yield out
    torch.set_num_threads(n)


def test_accuracy_objective_is_the_monte_carlo_evaluation(tmp_path, deployment):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({
        "name": "acc", "workload": {"deployment": str(deployment)}, "system": "tpu-imac",
        "axes": {"imac.adc.bits": [2, 8], "imac.device.variation": [0.0, 0.3], "imac.rows": [16, 32]},
        "objectives": ["energy_j", "accuracy"],
        "evaluate": {"deployment": str(deployment), "mc": 2, "test_limit": 150}}))
    spec = load_spec(path)
    summary = run_sweep(spec, tmp_path / "r.db", workers=1)
    assert (summary.evaluated, summary.failed) == (8, 0)
    with open_store(tmp_path / "r.db") as st:
        pts = st.points()
    refs = {(bits, var): evaluate_run(deployment, mc=2, seed=0, test_limit=150,
                                      changes=HardwareChanges(adc_bits=bits, variation=var)).mc["mean"]
            for bits in (2, 8) for var in (0.0, 0.3)}
    by: dict = {}
    for p in pts:
        key = (p.params["imac.adc.bits"], p.params["imac.device.variation"])
        assert p.objectives["accuracy"] == pytest.approx(refs[key], abs=1e-12)
        by.setdefault(key, set()).add(p.objectives["accuracy"])
    # imac.rows does not change what evaluation simulates: one accuracy per (bits, variation)
    assert all(len(v) == 1 for v in by.values())
    # a 2-bit output ADC costs accuracy against 8 bits (ideal devices)
    assert next(iter(by[(2, 0.0)])) < next(iter(by[(8, 0.0)]))
