"""Compute units behind one small protocol, and the registry a system places layers with.

A *unit* is one kind of compute hardware (a systolic array, a mobile CPU, the fully analog IMAC unit, a mixed-signal
IMC core, ...). The system (:mod:`imcsim.arch.system`) knows units only through this protocol: which layers a unit
can run, what a layer costs on it, how large it is, and what crosses its boundary. It names no unit itself.

Boundaries. A unit whose data inside are analog voltages (``analog_chain = True``, the IMAC unit) can pass one dense
layer's outputs straight into the next dense layer on the same unit; converters then sit only where data enter
(``Placement.convert_in``: DACs) and leave (``Placement.convert_out``: ADCs). Every other unit takes and returns
digital words, so both flags are True for each of its layers. The system computes the flags from the placement and
hands them to :meth:`Unit.layer_cost`.

Placement policies. ``analog`` marks a unit that computes in the analog domain (IMAC, mixed-signal IMC cores): the
policies ``dense-to-analog`` and ``all-analog`` send layers to such units, and an analog budget (area, crossbars)
counts only their layers. A unit without the attribute is taken as analog when it is an analog chain.

Area. :meth:`Unit.area_m2` is the unit's area holding the given layers. When a unit's layer costs report
``metrics["area_m2"]`` (an analog unit sized by what it maps, whose converters depend on the placement), the system
sums those figures of the placed run instead, so the area matches the converters actually placed; a unit whose
layer costs report no area (a digital unit of fixed size) is sized by :meth:`Unit.area_m2`. An analog unit reports
the arrays a layer occupies as ``metrics["crossbars"]``, which a crossbar budget counts.

Units are registered by *kind* (the name used in system configs and in ``LayerCost.unit``) with a factory that turns
the unit's typed config into a :class:`Unit`; ``build_unit(kind, config)`` makes one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from imcsim.arch.cost import LayerCost
from imcsim.errors import ConfigError
from imcsim.workload.layer import Layer

__all__ = ["Placement", "LayerWeights", "Unit", "register_unit", "build_unit", "unit_kinds", "is_analog"]


@dataclass(frozen=True)
class Placement:
    """Where a layer sits in the run of layers on its unit, as the system placed it.

    Attributes:
        convert_in: the layer's inputs arrive as digital words and pass the unit's input converters (DACs on an
            analog unit; a no-op on a digital unit).
        convert_out: the layer's outputs leave the unit through its output converters (ADCs on an analog unit).
        index: the layer's position (0-based) among the layers with weights placed on this unit; the IMAC unit picks
            per-layer amplifier gains with it.
    """

    convert_in: bool = True
    convert_out: bool = True
    index: int = 0


@dataclass(frozen=True)
class LayerWeights:
    """Actual values of one layer, for units whose energy depends on them (analog units).

    Attributes:
        weight: weight levels, shape (out, in) for a dense layer (e.g. {-1, 0, +1} on IMAC).
        bias: bias levels, shape (out,), or None.
        inputs_v: input voltages of the layer (V), shape (batch, in), when known (the first analog layer's inputs).
    """

    weight: np.ndarray | None = None
    bias: np.ndarray | None = None
    inputs_v: np.ndarray | None = None


@runtime_checkable
class Unit(Protocol):
    """One compute unit, configured. Implementations are pure: no I/O, no torch, no hidden state.

    Attributes:
        kind: the registered kind (``"systolic"``, ``"cpu"``, ``"imac"``, ``"imc"``); also ``LayerCost.unit``.
        analog_chain: consecutive layers on this unit may pass analog data without converters between them.
        analog: the unit computes in the analog domain (placement policies send layers to it; analog budgets count
            it). Optional: :func:`is_analog` falls back to ``analog_chain``.
        batches: optional; True when ``layer_cost`` takes a ``batch=`` keyword and costs a batch of inputs processed
            together (the systolic array: the batch multiplies the GEMM's M). Units without it take a batch's inputs
            one after another (the system scales their rows).
    """

    kind: str
    analog_chain: bool

    def why_not(self, layer: Layer) -> str | None:
        """None if the unit can run ``layer``; else a short reason for the user (``"dense layers only"``)."""
        ...

    def layer_cost(self, layer: Layer, placement: Placement = Placement(),
                   weights: LayerWeights | None = None) -> LayerCost:
        """What ``layer`` costs on this unit (SI units), ``LayerCost.unit == self.kind``."""
        ...

    def area_m2(self, layers: Sequence[Layer]) -> float:
        """Silicon area (m^2) of this unit when it holds ``layers``: fixed for a digital unit, sized by the mapped
        layers for an analog unit (the sum of its layer costs' ``metrics["area_m2"]``)."""
        ...

    def input_bytes(self, layer: Layer) -> int:
        """Bytes that enter the unit when ``layer``'s inputs cross into it (transfer size)."""
        ...

    def output_bytes(self, layer: Layer) -> int:
        """Bytes that leave the unit when ``layer``'s outputs cross out of it (transfer size)."""
        ...


def is_analog(unit: Unit) -> bool:
    """Whether ``unit`` computes in the analog domain: its ``analog`` attribute, else its ``analog_chain``."""
    return bool(getattr(unit, "analog", unit.analog_chain))


UnitFactory = Callable[[Any], Unit]
_REGISTRY: dict[str, UnitFactory] = {}


def register_unit(kind: str, factory: UnitFactory) -> None:
    """Register ``factory(config) -> Unit`` under ``kind`` (a later registration of the same kind replaces it)."""
    _REGISTRY[kind] = factory


def unit_kinds() -> tuple[str, ...]:
    """The registered kinds, in registration order."""
    _load_builtin_units()
    return tuple(_REGISTRY)


def build_unit(kind: str, config: Any) -> Unit:
    """The unit of ``kind`` configured by ``config``; ConfigError naming the known kinds otherwise."""
    _load_builtin_units()
    try:
        factory = _REGISTRY[kind]
    except KeyError:
        raise ConfigError(f"unknown unit kind '{kind}' (known: {', '.join(_REGISTRY)})") from None
    return factory(config)


#: Modules that register a unit on import; a new unit module adds itself here.
_BUILTIN_MODULES: tuple[str, ...] = (
    "imcsim.arch.systolic_unit",
    "imcsim.arch.cpu_unit",
    "imcsim.arch.imac_unit",
    "imcsim.arch.imc",
)


def _load_builtin_units() -> None:
    """Import the unit modules shipped with imcsim (each registers itself on import; importing twice is free)."""
    import importlib

    for module in _BUILTIN_MODULES:
        importlib.import_module(module)


def cost_all(unit: Unit, layers: Sequence[Layer],
             placements: Sequence[Placement] | None = None,
             weights: Mapping[str, LayerWeights] | None = None) -> list[LayerCost]:
    """``unit.layer_cost`` over ``layers`` (a convenience for tests and reports)."""
    placements = placements or [Placement()] * len(layers)
    weights = weights or {}
    return [unit.layer_cost(lay, p, weights.get(lay.name)) for lay, p in zip(layers, placements)]
