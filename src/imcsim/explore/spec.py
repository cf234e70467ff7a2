"""The sweep spec: what to sweep (axes of config fields by dotted path), on which workloads and system, how to search,
and which objectives to minimise or maximise.

A spec is YAML, the form users write::

    name: alexnet-tpu-imac
    workload: {model: alexnet}           # or {topology: file.csv}, {deployment: runs/x}; or workloads: [...]
    system: tpu-imac                     # a system preset or a system YAML
    axes:                                # any SystemConfig field by its dotted path
      systolic.rows: [16, 32, 64, 128]
      systolic.cols: [16, 32, 64, 128]
      imac.adc.bits: [4, 6, 8]
    linked: [[systolic.rows, systolic.cols]]   # optional: these axes move together (zipped, equal lengths)
    search: grid                         # grid | random:N | nsga2:N
    objectives: [latency_s, energy_j, area_m2]
    evaluate: {deployment: runs/lenet5, mc: 5, test_limit: 2000}   # optional: accuracy (maximised)

A workload's ``model`` is a zoo name, ``FILE.onnx`` or ``path/to/file.py:ClassName`` (with ``input_shape: [C, H,
W]`` and optionally ``model_args: {...}``), as ``--model`` takes them. Relative file paths in a spec (system YAML,
model files, topology, deployment) are read relative to the spec file's directory.
:func:`load_spec` checks everything that can be checked before a point runs: the keys, every axis path and every
axis value against the system config (one line naming the path and the value), the objectives and the search.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from imcsim.config.base import ConfigModel, parse_config, read_yaml
from imcsim.errors import ConfigError

__all__ = ["WorkloadSpec", "EvaluateSpec", "SweepSpec", "Objective", "OBJECTIVES", "load_spec", "parse_spec",
           "Search"]


@dataclass(frozen=True)
class Objective:
    """An objective a point reports: its name, whether larger is better, its unit and what it is."""

    name: str
    maximize: bool
    unit: str
    description: str


OBJECTIVES: dict[str, Objective] = {o.name: o for o in (
    Objective("latency_s", False, "s", "latency of one inference on the heterogeneous system (batch 1)"),
    Objective("energy_j", False, "J", "energy of one inference on the heterogeneous system"),
    Objective("area_m2", False, "m^2", "area of every unit of the system (System.area: analog units sized by what "
              "they map, digital units by their config)"),
    Objective("imac_area_m2", False, "m^2", "area of the IMAC unit alone (crossbars, converters, amplifiers and "
              "neurons of the layers it maps); 0 without one"),
    Objective("weight_bits", False, "bit", "weight storage of the heterogeneous system"),
    Objective("speedup", True, "x", "latency of the digital unit alone / latency of the heterogeneous system"),
    Objective("energy_saving", True, "fraction", "1 - energy of the heterogeneous system / of the digital unit "
              "alone"),
    Objective("accuracy", True, "fraction", "test accuracy of the spec's deployment on the point's IMAC "
              "non-idealities (Monte Carlo mean when evaluate.mc > 0, else nominal); needs `evaluate`"),
)}
"""Every objective a point reports, by name. A spec's ``objectives`` pick the ones the search optimises and the
default Pareto front; every point stores all of them (accuracy only with ``evaluate``)."""


class WorkloadSpec(ConfigModel):
    """One workload: exactly one of a model (a zoo name, an ONNX file or a Python file's module class), a SCALE-Sim
    topology file or a deployment directory."""

    model: str | None = Field(None, description="Zoo model name (`imcsim models`), FILE.onnx or "
                              "path/to/file.py:ClassName (imcsim.workload.load_workload).")
    input_shape: list[int] | None = Field(None, description="One input's shape without the batch, e.g. [3, 32, 32] "
                                          "(needed by a file.py:ClassName model).")
    model_args: dict | None = Field(None, description="Constructor keyword arguments of a zoo or Python-file model.")
    topology: str | None = Field(None, description="SCALE-Sim topology CSV file.")
    gemm: bool = Field(False, description="The topology file is in the GEMM format (Layer Name, M, N, K).")
    deployment: str | None = Field(None, description="Deployment (or run) directory written by `imcsim train`: its "
                                   "network, IMAC weights and IMAC config, as `imcsim compare --deployment`.")

    @model_validator(mode="after")
    def _one(self) -> "WorkloadSpec":
        given = [k for k in ("model", "topology", "deployment") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of model, topology, deployment (got {', '.join(given) or 'none'})")
        if self.gemm and self.topology is None:
            raise ValueError("gemm = True needs a topology file")
        if self.model is None and (self.input_shape is not None or self.model_args is not None):
            raise ValueError("input_shape and model_args need a model")
        return self

    @property
    def label(self) -> str:
        """The workload's name in the store and in reports: the model name or the file path as written."""
        return self.model or self.topology or self.deployment  # type: ignore[return-value]


class EvaluateSpec(ConfigModel):
    """Accuracy as an objective: Monte Carlo evaluation of a trained deployment (``imcsim evaluate``) with the
    point's IMAC non-idealities."""

    deployment: str = Field(..., description="Run or deployment directory written by `imcsim train`.")
    mc: int = Field(0, ge=0, description="Monte Carlo chips per point (0: the nominal accuracy only).")
    seed: int = Field(0, ge=0, description="Seed of the first Monte Carlo chip.")
    test_limit: int | None = Field(None, ge=1, description="Use the first N test images.")
    data_dir: str | None = Field(None, description="Dataset directory (default: the run's own).")


@dataclass(frozen=True)
class Search:
    """How points are chosen: ``grid`` (every combination), ``random`` (``n`` distinct combinations drawn with
    ``seed``) or ``nsga2`` (``n`` trials of Optuna's NSGA-II in generations of ``population``)."""

    kind: Literal["grid", "random", "nsga2"]
    n: int | None = None


_SEARCH = re.compile(r"^(grid|random:(\d+)|nsga2:(\d+))$")


class SweepSpec(ConfigModel):
    """A design-space sweep (see the module docstring for the YAML form)."""

    name: str = Field(..., min_length=1, description="The sweep's name (reports, the store).")
    workload: WorkloadSpec | None = Field(None, description="The workload (or give `workloads`).")
    workloads: list[WorkloadSpec] | None = Field(None, description="Several workloads: each point runs on each.")
    system: str = Field("tpu-imac", description="System preset name or SystemConfig YAML file.")
    axes: dict[str, list[Any]] = Field(..., description="Dotted config path -> the values it takes.")
    linked: list[list[str]] = Field(default_factory=list, description="Groups of axes that move together (zipped).")
    search: str = Field("grid", description="grid | random:N | nsga2:N.")
    seed: int = Field(0, ge=0, description="Seed of the random and NSGA-II searches.")
    population: int = Field(50, ge=2, description="NSGA-II population per generation.")
    objectives: list[str] = Field(["latency_s", "energy_j"], min_length=1,
                                  description="Objectives the search optimises (see OBJECTIVES).")
    evaluate: EvaluateSpec | None = Field(None, description="Accuracy as an objective (optional).")

    @field_validator("axes")
    @classmethod
    def _axes(cls, axes: dict[str, list[Any]]) -> dict[str, list[Any]]:
        if not axes:
            raise ValueError("no axes: give at least one config path and its values")
        for path, values in axes.items():
            if not values:
                raise ValueError(f"axis '{path}' has no values")
            seen = []
            for v in values:
                if v in seen:
                    raise ValueError(f"axis '{path}' lists {v!r} twice")
                seen.append(v)
        return axes

    @field_validator("search")
    @classmethod
    def _search(cls, s: str) -> str:
        m = _SEARCH.match(s.strip())
        if not m or int(m.group(2) or m.group(3) or 1) < 1:
            raise ValueError(f"search = {s!r}: choose grid, random:N or nsga2:N (N >= 1)")
        return s.strip()

    @field_validator("objectives")
    @classmethod
    def _objectives(cls, objs: list[str]) -> list[str]:
        for o in objs:
            if o not in OBJECTIVES:
                raise ValueError(f"unknown objective {o!r} (valid: {', '.join(OBJECTIVES)})")
        if len(set(objs)) != len(objs):
            raise ValueError(f"objectives = {objs}: an objective is listed twice")
        return objs

    @model_validator(mode="after")
    def _check(self) -> "SweepSpec":
        if (self.workload is None) == (self.workloads is None):
            raise ValueError("give exactly one of workload and workloads")
        if self.workloads is not None:
            if not self.workloads:
                raise ValueError("workloads is empty")
            labels = [w.label for w in self.workloads]
            if len(set(labels)) != len(labels):
                raise ValueError(f"workloads = {labels}: a workload is listed twice")
        seen: set[str] = set()
        for group in self.linked:
            if len(group) < 2:
                raise ValueError(f"linked group {group}: link at least two axes")
            for path in group:
                if path not in self.axes:
                    raise ValueError(f"linked axis '{path}' is not in axes")
                if path in seen:
                    raise ValueError(f"axis '{path}' is in two linked groups")
                seen.add(path)
            lengths = {len(self.axes[p]) for p in group}
            if len(lengths) > 1:
                raise ValueError(f"linked axes {group} have different numbers of values "
                                 f"({', '.join(str(len(self.axes[p])) for p in group)})")
        if "accuracy" in self.objectives and self.evaluate is None:
            raise ValueError("objective 'accuracy' needs an `evaluate` section (deployment, mc, test_limit)")
        if self.search_plan.kind == "nsga2" and len(self.objectives) < 2:
            raise ValueError(f"search = {self.search!r} is multi-objective: give at least two objectives")
        return self

    @property
    def search_plan(self) -> Search:
        """The parsed ``search``."""
        m = _SEARCH.match(self.search)
        assert m is not None
        if m.group(1) == "grid":
            return Search("grid")
        kind = "random" if m.group(2) else "nsga2"
        return Search(kind, int(m.group(2) or m.group(3)))  # type: ignore[arg-type]

    @property
    def workload_list(self) -> list[WorkloadSpec]:
        """The workloads, one or several."""
        return list(self.workloads) if self.workloads is not None else [self.workload]  # type: ignore[list-item]

    @property
    def axis_groups(self) -> list[tuple[str, ...]]:
        """The axes as groups that move together: each linked group, then every other axis alone, in spec order."""
        linked = {p: tuple(g) for g in self.linked for p in g}
        groups: list[tuple[str, ...]] = []
        for path in self.axes:
            g = linked.get(path, (path,))
            if g not in groups:
                groups.append(g)
        return groups

    def group_values(self, group: tuple[str, ...]) -> list[dict[str, Any]]:
        """The settings a group of axes takes: ``[{path: value, ...}, ...]`` (linked axes zipped)."""
        return [dict(zip(group, vs)) for vs in zip(*(self.axes[p] for p in group))]

    @property
    def grid_size(self) -> int:
        """Points per workload in the full grid."""
        n = 1
        for g in self.axis_groups:
            n *= len(self.axes[g[0]])
        return n


def _resolve(path: str | None, base: Path) -> str | None:
    if path is None:
        return None
    p = Path(path).expanduser()
    return str(p if p.is_absolute() else base / p)


def _resolve_model(model: str | None, base: Path) -> str | None:
    """A model spec with its file (FILE.onnx, path/to/file.py of file.py:ClassName) resolved; zoo names as given."""
    from imcsim.workload.resolve import workload_kind

    if model is None or workload_kind(model) == "zoo":
        return model
    if workload_kind(model) == "onnx":
        return _resolve(model, base)
    path, _, cls = model.rpartition(":")
    return f"{_resolve(path, base)}:{cls}"


def parse_spec(data: Any, source: str = "sweep spec", base_dir: str | Path = ".") -> SweepSpec:
    """Validate ``data`` (the YAML mapping) as a :class:`SweepSpec`, with relative file paths resolved against
    ``base_dir``, and check every axis path and value against the system config (ConfigError naming them)."""
    spec = parse_config(SweepSpec, data, source=source)
    base = Path(base_dir).resolve()  # absolute: workers (Ray ones too) may run elsewhere
    sys_path = spec.system
    if sys_path.endswith((".yaml", ".yml")) or (base / sys_path).is_file():
        sys_path = _resolve(sys_path, base)  # type: ignore[assignment]
    wls = [w.model_copy(update={"model": _resolve_model(w.model, base), "topology": _resolve(w.topology, base),
                                "deployment": _resolve(w.deployment, base)})
           for w in spec.workload_list]
    update: dict[str, Any] = {"system": sys_path}
    if spec.workloads is not None:
        update["workloads"] = wls
    else:
        update["workload"] = wls[0]
    if spec.evaluate is not None:
        update["evaluate"] = spec.evaluate.model_copy(update={
            "deployment": _resolve(spec.evaluate.deployment, base), "data_dir": _resolve(spec.evaluate.data_dir, base)})
    spec = spec.model_copy(update=update)
    check_axes(spec, source)
    return spec


def check_axes(spec: SweepSpec, source: str = "sweep spec") -> None:
    """Every axis path exists in the system config and each of its values alone is accepted there (linked values
    together); ConfigError ``"<source>: axis '<path>' = <value>: <why>"`` otherwise."""
    from imcsim.config.system import load_system

    try:
        base = load_system(spec.system)
    except ConfigError as exc:
        raise ConfigError(f"{source}: system: {exc}") from None
    for group in spec.axis_groups:
        for setting in spec.group_values(group):
            try:
                base.replace_paths(setting)
            except ConfigError as exc:
                items = ", ".join(f"'{p}' = {v!r}" for p, v in setting.items())
                raise ConfigError(f"{source}: axis {items}: {_reason(str(exc), setting)}") from None


def _reason(msg: str, setting: dict[str, Any]) -> str:
    """The refusal of an override without the path and value it repeats (the spec's message names them already)."""
    for path, value in setting.items():
        msg = msg.removeprefix(f"SystemConfig override: field '{path}' = {value!r}: ")
        msg = msg.removeprefix(f"config path '{path}' = {value!r}: ")
        msg = msg.removesuffix(f" (setting '{path}' = {value!r})")
    return msg.removeprefix("SystemConfig override: ")


def load_spec(path: str | Path) -> SweepSpec:
    """Read and check a sweep spec YAML file (see :func:`parse_spec`)."""
    p = Path(path)
    return parse_spec(read_yaml(p), source=str(p), base_dir=p.parent)
