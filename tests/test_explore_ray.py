"""A small sweep on a local Ray cluster gives the same points as the in-process run."""

import pytest
import yaml

from imcsim.explore import load_spec, open_store, run_sweep

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_sweep_on_local_ray_matches_in_process(tmp_path, local_ray):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({
        "name": "ray", "workload": {"model": "lenet5"}, "system": "tpu-imac",
        "axes": {"systolic.rows": [8, 16, 32], "imac.rows": [16, 32], "imac.adc.bits": [4, 8]},
        "objectives": ["latency_s", "energy_j"]}))
    spec = load_spec(path)
    on_ray = run_sweep(spec, tmp_path / "ray.db", ray="auto", chunk_size=3)  # Ray is initialised: use it
    assert (on_ray.total, on_ray.evaluated, on_ray.failed) == (12, 12, 0)
    assert ray.is_initialized()  # a Ray the caller started is left running
    run_sweep(spec, tmp_path / "local.db", workers=1)
    with open_store(tmp_path / "ray.db") as a, open_store(tmp_path / "local.db") as b:
        ra = {p.key: p.objectives for p in a.points()}
        rb = {p.key: p.objectives for p in b.points()}
    assert ra == rb
