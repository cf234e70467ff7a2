"""Running a sweep: the driver proposes points, workers evaluate them, the driver stores every result.

The driver owns the store (ask-and-tell): workers only compute, and a finished batch is committed in one transaction
before anything else is asked, so after a crash or ``kill -9`` the same call resumes where the store ends: stored
points are not run again and no key is stored twice.

Searches. ``grid`` and ``random:N`` plan their points up front (:func:`imcsim.explore.points.planned_points`; the
same list on every run), so a resumed run evaluates exactly the planned points that are not stored yet. ``nsga2:N``
asks Optuna's NSGA-II sampler (an in-memory study, one per workload) for a generation at a time, evaluates it in
parallel and tells the results; on resume the stored points are replayed into the study with their generation
numbers, so the search continues from the last stored generation. (Optuna's own SQLite storage and its grid sampler
are not used: measured here, the storage did about 50 ask/tell pairs per second and the grid sampler rescans every
trial per ask, both far below the 200 points per second an analytical sweep runs at.)

Backends: ``workers = 1`` evaluates in this process; ``workers > 1`` in a pool of spawned local processes; ``ray``
sends batches of points as Ray tasks (``"local"`` starts a local Ray with ``workers`` CPUs, ``"auto"`` joins the
running cluster, anything else is a cluster address; an already initialised Ray is used as it is).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imcsim.errors import ImcsimError
from imcsim.explore.evaluate import Evaluator, directions, objective_vector
from imcsim.explore.points import Point, planned_points, point_from_indices
from imcsim.explore.spec import SweepSpec
from imcsim.explore.store import PointResult, Store, open_store, store_lock

__all__ = ["run_sweep", "SweepSummary", "spec_fingerprint"]

Progress = Callable[[int, int], None]
"""``progress(done, total)``: points in the store for this sweep, of the points it will hold when finished."""


@dataclass
class SweepSummary:
    """What a run did: points planned, evaluated now, found in the store, failed (in the store), its wall time
    (``elapsed_s``) of which ``load_s`` went to loading the workloads, and its rate: points evaluated per second of
    the rest (starting workers, evaluating, storing)."""

    total: int
    evaluated: int
    from_store: int
    failed: int
    elapsed_s: float
    load_s: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        run_s = self.elapsed_s - self.load_s
        return self.evaluated / run_s if run_s > 0 else math.nan


def spec_fingerprint(spec: SweepSpec) -> dict[str, Any]:
    """What a stored result depends on besides its point: the workloads, the base system config and the accuracy
    evaluation. A store refuses a spec whose fingerprint differs from the one it was created with."""
    from imcsim.config.system import load_system

    return {"workloads": [w.model_dump(mode="json") for w in spec.workload_list],
            "system": load_system(spec.system).model_dump(mode="json"),
            "evaluate": None if spec.evaluate is None else spec.evaluate.model_dump(mode="json")}


_SMALL = 1000
"""Analytical points left at or under which the default runs them in this process (about a second of work)."""


# ----- backends -----------------------------------------------------------------------------------------------------
_WORKER: dict[str, Evaluator] = {}


def _init_worker(evaluator: Evaluator, parent: int) -> None:
    evaluator.one_thread = True
    _WORKER["local"] = evaluator
    # A worker waits for work on a pipe that outlives a driver killed with SIGKILL: leave when the driver is gone.
    import threading

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()


def _evaluate_local(points: list[Point]) -> list[PointResult]:
    return _WORKER["local"].evaluate(points)


def _evaluate_ray(ctx: str, ref: list, points: list[Point]) -> list[PointResult]:
    """A Ray task: the evaluator travels as a nested object reference, fetched once per worker process."""
    ev = _WORKER.get(ctx)
    if ev is None:
        import ray

        ev = ray.get(ref[0])
        ev.one_thread = True  # Ray gives each task one CPU
        _WORKER.clear()
        _WORKER[ctx] = ev
    return ev.evaluate(points)


class _InProcess:
    slots = 1

    def __init__(self, evaluator: Evaluator):
        self.evaluator = evaluator

    def map(self, chunks: Iterator[list[Point]]) -> Iterator[list[PointResult]]:
        for chunk in chunks:
            yield self.evaluator.evaluate(chunk)

    def close(self) -> None:
        pass


class _LocalPool:
    def __init__(self, evaluator: Evaluator, workers: int):
        import multiprocessing

        # spawn, not fork: the driver has torch loaded (zoo tracing), and forking its thread pools is unsafe
        self.pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                        initializer=_init_worker, initargs=(evaluator, os.getpid()))
        self.slots = workers

    def map(self, chunks: Iterator[list[Point]]) -> Iterator[list[PointResult]]:
        inflight: set[Future] = set()
        for chunk in chunks:
            inflight.add(self.pool.submit(_evaluate_local, chunk))
            if len(inflight) >= 2 * self.slots:
                done, inflight = wait(inflight, return_when=FIRST_COMPLETED)
                for f in done:
                    yield f.result()
        while inflight:
            done, inflight = wait(inflight, return_when=FIRST_COMPLETED)
            for f in done:
                yield f.result()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


class _Ray:
    def __init__(self, evaluator: Evaluator, address: str, workers: int):
        try:
            import ray
        except ImportError:
            raise ImcsimError("the Ray backend needs the ray package: pip install 'imcsim[ray]'") from None
        self.ray = ray
        self.owned = False
        if not ray.is_initialized():
            if address == "local":
                ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
            else:
                try:
                    ray.init(address=address, log_to_driver=False)
                except ConnectionError as exc:
                    raise ImcsimError(f"Ray address {address!r}: cannot connect ({exc})") from None
            self.owned = True
        self.slots = max(1, int(ray.cluster_resources().get("CPU", 1)))
        self.task = ray.remote(_evaluate_ray)
        self.ref = ray.put(evaluator)
        self.ctx = f"{os.getpid()}-{id(evaluator)}-{time.time()}"

    def map(self, chunks: Iterator[list[Point]]) -> Iterator[list[PointResult]]:
        inflight: list = []
        for chunk in chunks:
            inflight.append(self.task.remote(self.ctx, [self.ref], chunk))
            if len(inflight) >= 2 * self.slots:
                done, inflight = self.ray.wait(inflight, num_returns=1)
                yield from self.ray.get(done)
        while inflight:
            done, inflight = self.ray.wait(inflight, num_returns=1)
            yield from self.ray.get(done)

    def close(self) -> None:
        if self.owned:
            self.ray.shutdown()


def _backend(evaluator: Evaluator, workers: int, ray: str | None) -> Any:
    if ray is not None:
        return _Ray(evaluator, ray, workers)
    if workers <= 1:
        return _InProcess(evaluator)
    return _LocalPool(evaluator, workers)


def _chunks(points: list[Point], size: int) -> Iterator[list[Point]]:
    for i in range(0, len(points), size):
        yield points[i:i + size]


# ----- the driver ---------------------------------------------------------------------------------------------------
def run_sweep(spec: SweepSpec, store_path: str | Path, *, workers: int | None = None, ray: str | None = None,
              progress: Progress | None = None, note: Callable[[str], None] | None = None,
              chunk_size: int | None = None) -> SweepSummary:
    """Run (or resume) ``spec`` into the store at ``store_path``.

    Args:
        workers: local worker processes (default: the CPU count, or this process alone for an analytical sweep of
            at most 1,000 points left, which takes less time than starting workers); 1 evaluates in this process.
            With ``ray``, the CPUs of a local Ray it starts.
        ray: None (local processes), ``"local"``, ``"auto"`` or a Ray cluster address.
        progress: called with (points done, points in total) after every stored batch.
        note: called with one-line notes (a stale lock taken over).
        chunk_size: points per task (default: sized so each worker gets about eight tasks, at most 256).
    """
    auto_workers = workers is None
    workers = workers or os.cpu_count() or 1
    if workers < 1:
        raise ImcsimError(f"workers = {workers}: need at least 1")
    say = note or (lambda _msg: None)
    notes: list[str] = []
    lock = store_lock(store_path)
    store = None
    backend = None
    t0 = time.perf_counter()
    msg = lock.acquire().took_over
    try:
        if msg:
            notes.append(msg)
            say(msg)
        store = open_store(store_path)
        fp = spec_fingerprint(spec)
        stored_fp = store.get_meta("fingerprint")
        if stored_fp is None:
            store.set_meta("fingerprint", fp)
            store.set_meta("spec", spec.model_dump(mode="json"))
        elif stored_fp != fp:
            old = store.get_meta("spec") or {}
            raise ImcsimError(f"{store_path}: holds sweep '{old.get('name', '?')}' on other workloads, system or "
                              "evaluation than this spec; use another store")
        else:
            store.set_meta("spec", spec.model_dump(mode="json"))  # axes or search may have grown
        plan = spec.search_plan
        load_s = 0.0
        if plan.kind == "nsga2":
            total = (plan.n or 0) * len(spec.workload_list)
            done_before = _count_trials(store, spec)
            if progress:
                progress(min(done_before, total), total)
            t_load = time.perf_counter()
            evaluator = Evaluator(spec)  # loads the workloads
            load_s = time.perf_counter() - t_load
            backend = _backend(evaluator, workers, ray)
            evaluated = _run_nsga2(spec, store, backend, progress, total, done_before)
            summary_total, from_store = total, done_before
        else:
            points = planned_points(spec) or []
            keys = store.keys()
            pending = [p for p in points if p.key not in keys]
            summary_total, from_store = len(points), len(points) - len(pending)
            if progress:
                progress(from_store, len(points))
            evaluated = 0
            if pending:
                if auto_workers and ray is None and spec.evaluate is None and len(pending) <= _SMALL:
                    workers = 1  # starting worker processes would take longer than these points
                t_load = time.perf_counter()
                evaluator = Evaluator(spec)  # loads the workloads
                load_s = time.perf_counter() - t_load
                backend = _backend(evaluator, workers, ray)
                size = chunk_size or max(1, min(256, math.ceil(len(pending) / (8 * backend.slots))))
                done = from_store
                for results in backend.map(_chunks(pending, size)):
                    store.add(results)
                    evaluated += len(results)
                    done += len(results)
                    if progress:
                        progress(done, len(points))
        failed = int(store.conn.execute("SELECT COUNT(*) FROM points WHERE status != 'ok'").fetchone()[0])
        return SweepSummary(summary_total, evaluated, from_store, failed, time.perf_counter() - t0, load_s, notes)
    finally:
        if backend is not None:
            backend.close()
        if store is not None:
            store.close()
        lock.release()


def _count_trials(store: Store, spec: SweepSpec) -> int:
    labels = {w.label for w in spec.workload_list}
    return sum(1 for r in store.points() if r.workload in labels and r.trial is not None)


def _run_nsga2(spec: SweepSpec, store: Store, backend: Any, progress: Progress | None, total: int,
               done: int) -> int:
    """NSGA-II per workload with ask-and-tell; returns the points evaluated now."""
    import optuna
    from optuna.distributions import CategoricalDistribution

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    plan = spec.search_plan
    n = plan.n or 0
    names = list(spec.objectives)
    dirs = ["maximize" if m else "minimize" for m in directions(names)]
    groups = spec.axis_groups
    dists = {",".join(g): CategoricalDistribution(tuple(range(len(spec.axes[g[0]])))) for g in groups}
    stored = store.points()
    evaluated = 0
    for w in spec.workload_list:
        sampler = optuna.samplers.NSGAIISampler(population_size=spec.population, seed=spec.seed)
        study = optuna.create_study(directions=dirs, sampler=sampler)
        by_key = {r.key: r for r in stored if r.workload == w.label}
        replayed = 0
        for r in stored:  # replay this workload's trials in the order they were stored
            if r.workload != w.label or r.trial is None:
                continue
            try:
                params = {",".join(g): spec.axes[g[0]].index(r.params[g[0]]) for g in groups}
            except (KeyError, ValueError):
                continue  # a point of other axes: not part of this search
            study.add_trial(_frozen(r, params, dists, names))
            replayed += 1
        while replayed < n:
            trials = [study.ask(dists) for _ in range(min(spec.population, n - replayed))]
            points = [point_from_indices(spec, w.label, tuple(t.params[k] for k in dists)) for t in trials]
            todo: dict[str, Point] = {}
            for p in points:
                if p.key not in by_key:
                    todo[p.key] = p
            results: dict[str, PointResult] = {}
            for batch in backend.map(_chunks(list(todo.values()), max(1, math.ceil(len(todo) / backend.slots)))):
                results.update((r.key, r) for r in batch)
            evaluated += len(results)
            new_rows = []
            for t, p in zip(trials, points):
                r = results.pop(p.key, None)
                known = r or by_key[p.key]
                if known.ok:
                    frozen = study.tell(t, objective_vector(known, names))
                else:
                    frozen = study.tell(t, state=optuna.trial.TrialState.FAIL)
                if r is not None:
                    r.trial = {"system_attrs": dict(frozen.system_attrs)}
                    new_rows.append(r)
                    by_key[p.key] = r
            store.add(new_rows)
            replayed += len(trials)
            done += len(trials)
            if progress:
                progress(min(done, total), total)
    return evaluated


def _frozen(r: PointResult, params: dict[str, int], dists: dict, names: list[str]) -> Any:
    import optuna

    attrs = (r.trial or {}).get("system_attrs", {})
    if r.ok:
        return optuna.trial.create_trial(params=params, distributions=dists, values=objective_vector(r, names),
                                         system_attrs=attrs)
    return optuna.trial.create_trial(params=params, distributions=dists, state=optuna.trial.TrialState.FAIL,
                                     system_attrs=attrs)

