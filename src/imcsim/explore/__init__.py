"""Design-space exploration: a sweep spec (axes of config fields by dotted path), its points, a runner on local
processes or Ray, a resumable SQLite store and Pareto fronts. It calls the same library functions as the CLI."""

from imcsim.explore.pareto import pareto_mask
from imcsim.explore.runner import SweepSummary, run_sweep
from imcsim.explore.spec import OBJECTIVES, SweepSpec, load_spec, parse_spec
from imcsim.explore.store import PointResult, open_store

__all__ = ["OBJECTIVES", "SweepSpec", "load_spec", "parse_spec", "run_sweep", "SweepSummary", "open_store",
           "PointResult", "pareto_mask"]
