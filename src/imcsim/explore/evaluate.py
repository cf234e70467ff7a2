"""Evaluating design points: the system config of a point, its costs and, optionally, its accuracy.

An :class:`Evaluator` holds what every point of a sweep shares (the workloads' networks, the base system config,
deployment weights) and is sent once to each worker process. It calls the same library functions as
``imcsim compare`` and ``imcsim evaluate``: :meth:`~imcsim.config.base.ConfigModel.replace_paths` on the system
config, :class:`~imcsim.arch.system.System` and :func:`~imcsim.train.evaluate.monte_carlo`.

Caches (per process, never sent): the costs of a unit depend only on (layer, placement, that unit's config), so the
host-only baseline of a point is reused for every point whose host unit config is the same (its layer costs are also
handed to :meth:`System.run`, so the heterogeneous run does not cost the host's layers again), and the layer costs of
every other unit (IMAC) for every point whose config of that unit is the same; the accuracy of
a point depends only on the IMAC fields evaluation understands (:data:`imcsim.train.evaluate.CHANGE_PATHS`), so it
is computed once per distinct setting of those.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

import pydantic_core

from imcsim.config.system import SystemConfig, load_system
from imcsim.errors import ImcsimError
from imcsim.explore.points import Point
from imcsim.explore.spec import OBJECTIVES, SweepSpec, WorkloadSpec
from imcsim.explore.store import PointResult

__all__ = ["Evaluator", "load_workload", "objective_vector", "directions"]


def load_workload(w: WorkloadSpec, base: SystemConfig) -> tuple[Any, SystemConfig, dict | None]:
    """(network, system config, IMAC weights or None) of a workload, as ``imcsim compare`` builds them: a
    deployment brings its network, its IMAC weights and the IMAC config it was trained for."""
    if w.model is not None:
        from imcsim.workload.resolve import load_workload as resolve

        return resolve(w.model, w.input_shape, w.model_args), base, None
    if w.topology is not None:
        from imcsim.workload.scalesim_csv import read_topology

        return read_topology(w.topology, gemm=w.gemm), base, None
    from imcsim.arch.system import weights_from_deployment
    from imcsim.train.deploy import load_deployment

    dep = load_deployment(w.deployment)  # type: ignore[arg-type]
    cfg = base
    if isinstance(dep.config, dict) and "imac" in dep.config:
        cfg = base.replace(imac=dep.imac_config())  # the IMAC the model was trained for
    return dep.to_network(), cfg, weights_from_deployment(dep)


def _json(cfg: SystemConfig, kind: str) -> str:
    """The config of unit ``kind`` as canonical JSON (infinities as strings, so an ideal bandwidth keeps its key)."""
    return pydantic_core.to_json(cfg.unit_config(kind).model_dump(), inf_nan_mode="strings").decode()


class _CachedUnit:
    """A unit whose layer costs are looked up in ``cache`` under (``key``, layer name, placement) before they are
    computed: a unit's layer cost is a pure function of the layer, its placement, the layer's weights (fixed per
    workload) and the unit's config, which ``key`` names. Everything else is the unit's own."""

    def __init__(self, unit: Any, cache: dict, key: tuple):
        self._unit, self._cache, self._key = unit, cache, key

    def __getattr__(self, name: str) -> Any:
        return getattr(self._unit, name)

    def layer_cost(self, layer: Any, placement: Any = None, weights: Any = None) -> Any:
        from imcsim.arch.unit import Placement

        placement = Placement() if placement is None else placement
        k = (self._key, layer.name, placement)
        hit = self._cache.get(k)
        if hit is None:
            if len(self._cache) > 500_000:  # a very long sweep over unit configs: start again rather than grow
                self._cache.clear()
            hit = self._cache[k] = self._unit.layer_cost(layer, placement, weights)
        return hit


class Evaluator:
    """Evaluates points of one spec. Build it in the driver (it loads the workloads), send it to workers (it
    pickles without its caches) and call :meth:`evaluate`."""

    def __init__(self, spec: SweepSpec):
        self.spec = spec
        base = load_system(spec.system)
        self.workloads: dict[str, tuple[Any, SystemConfig, dict | None]] = {
            w.label: load_workload(w, base) for w in spec.workload_list}
        self._init_caches()

    def _init_caches(self) -> None:
        self._baselines: dict[tuple[str, str, str], tuple[Any, dict]] = {}
        self._unit_costs: dict[tuple, Any] = {}
        self._accuracy: dict[tuple, dict[str, float]] = {}
        self._eval_ctx: Any = None
        self.one_thread = False

    def __getstate__(self) -> dict:
        return {"spec": self.spec, "workloads": self.workloads}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._init_caches()

    # ----- one point ------------------------------------------------------------------------------------------------
    def evaluate(self, points: list[Point]) -> list[PointResult]:
        """The results of ``points`` (a point whose config is refused is a ``failed`` result with the message)."""
        return [self.evaluate_point(p) for p in points]

    def evaluate_point(self, point: Point) -> PointResult:
        t0 = time.perf_counter()
        try:
            network, base, weights = self.workloads[point.workload]
            cfg = base.replace_paths(point.params)
            objectives = self._costs(point, network, cfg, weights)
            t1 = time.perf_counter()
            timings = {"cost_s": t1 - t0}
            if self.spec.evaluate is not None:
                objectives.update(self._accuracy_of(cfg))
                timings["accuracy_s"] = time.perf_counter() - t1
        except ImcsimError as exc:
            return PointResult(point.key, point.workload, point.params, {}, status="failed", error=str(exc),
                               timings={"cost_s": time.perf_counter() - t0})
        # infinities (an ideal DRAM bandwidth) as "Infinity" strings, which the config reads back; plain
        # model_dump_json would write null and lose them
        config = pydantic_core.to_json(cfg.model_dump(), inf_nan_mode="strings").decode()
        return PointResult(point.key, point.workload, point.params, objectives, config=config, timings=timings)

    def _costs(self, point: Point, network: Any, cfg: SystemConfig, weights: dict | None) -> dict[str, float]:
        from imcsim.arch.system import System

        system = System(cfg)
        host = cfg.host
        for kind, unit in list(system.units.items()):
            if kind != host:  # the other units' layer costs, reused across points with the same unit config
                system.units[kind] = _CachedUnit(unit, self._unit_costs, (point.workload, kind, _json(cfg, kind)))
        # The host-only baseline depends on the host unit's config alone: key it on that.
        key = (point.workload, host, _json(cfg, host))
        hit = self._baselines.get(key)
        if hit is None:
            base = system.baseline(network)
            hit = (base, {c.name: c for c in base.layers})
            self._baselines[key] = hit
        base, rows = hit
        het = system.run(network, weights=weights, digital_costs=rows)
        lat, energy = het.latency_s, het.energy_j
        area = system.area(het, network)
        return {
            "latency_s": lat,
            "energy_j": energy,
            "area_m2": float(sum(area.values())),
            "imac_area_m2": float(area.get("imac", 0.0)),
            "weight_bits": float(het.weight_bits),
            "speedup": base.latency_s / lat if lat > 0 else math.inf,
            "energy_saving": 1.0 - energy / base.energy_j if base.energy_j > 0 else math.nan,
        }

    # ----- accuracy -------------------------------------------------------------------------------------------------
    def _context(self) -> Any:
        """(model, x_test, y_test, hybrid) of the evaluate deployment, loaded once per process."""
        if self._eval_ctx is None:
            if self.one_thread:  # one of several worker processes: one torch thread each, not one per core each
                import torch

                torch.set_num_threads(1)
            from imcsim.nn.convert import HybridModel
            from imcsim.train.deploy import load_deployment

            ev = self.spec.evaluate
            assert ev is not None
            dep = load_deployment(ev.deployment)
            model = dep.torch_model()
            ds = dep.load_data(data_dir=ev.data_dir).subset(None, ev.test_limit)  # the run's directory and size
            self._eval_ctx = (model, ds.x_test, ds.y_test, isinstance(model, HybridModel))
        return self._eval_ctx

    def _accuracy_of(self, cfg: SystemConfig) -> dict[str, float]:
        from imcsim.train.evaluate import CHANGE_PATHS, HardwareChanges, apply_changes, monte_carlo

        ev = self.spec.evaluate
        assert ev is not None
        values = {}
        for name, path in CHANGE_PATHS.items():
            v: Any = cfg.imac
            for part in path.split("."):
                v = getattr(v, part)
            values[name] = v
        key = tuple(sorted(values.items()))
        hit = self._accuracy.get(key)
        if hit is None:
            model, x, y, hybrid = self._context()
            if not hybrid:
                from imcsim.train.trainer import evaluate_accuracy

                hit = {"accuracy": float(evaluate_accuracy(model, x, y))}
            else:
                res = monte_carlo(model, x, y, ev.mc, ev.seed, apply_changes(model.hw, HardwareChanges(**values)))
                hit = {"accuracy": res.mc["mean"] if res.mc else res.accuracy}
            self._accuracy[key] = hit
        return dict(hit)


def objective_vector(result: PointResult, names: list[str]) -> list[float]:
    """The named objectives of a result (NaN where missing)."""
    return [float(result.objectives.get(n, math.nan)) for n in names]


def directions(names: list[str]) -> list[bool]:
    """Whether each named objective is maximised."""
    return [OBJECTIVES[n].maximize for n in names]
