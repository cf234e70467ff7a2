"""A workload: a named, ordered list of layers."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from imcsim.errors import TopologyError
from imcsim.workload.layer import Layer, LayerKind

__all__ = ["Network"]


@dataclass(frozen=True)
class Network:
    """Named, ordered layers at batch size 1, with totals.

    Attributes:
        name: the workload's name (zoo name, topology file stem, or model class).
        layers: layers in execution order; names are unique.
        input_shape: (C, H, W) of the network input, when known.
        meta: provenance and extra totals, by source: from_torch sets ``other_params`` (parameters outside MAC
            layers, e.g. batch norm), ``params_total`` and ``model_class``; the zoo adds ``dataset``,
            ``num_classes`` and ``published_params``; a topology file sets ``source`` and ``format``.
    """

    name: str
    layers: tuple[Layer, ...]
    input_shape: tuple[int, ...] | None = None
    meta: dict = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(self.layers))
        seen: set[str] = set()
        for layer in self.layers:
            if layer.name in seen:
                raise TopologyError(f"network '{self.name}': duplicate layer name '{layer.name}'")
            seen.add(layer.name)

    def __iter__(self) -> Iterator[Layer]:
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, key: int | str) -> Layer:
        if isinstance(key, str):
            for layer in self.layers:
                if layer.name == key:
                    return layer
            raise KeyError(key)
        return self.layers[key]

    def select(self, kinds: Sequence[LayerKind]) -> "Network":
        """A network holding only the layers of the given kinds, in order."""
        return Network(self.name, tuple(lay for lay in self.layers if lay.kind in kinds), self.input_shape,
                       dict(self.meta))

    @property
    def compute_layers(self) -> tuple[Layer, ...]:
        """Layers with multiply-accumulates (conv2d, linear, gemm)."""
        return tuple(lay for lay in self.layers if lay.kind.has_weights)

    @property
    def macs(self) -> int:
        return sum(lay.macs for lay in self.layers)

    @property
    def weights(self) -> int:
        """Total trainable parameters (equals ``sum(p.numel() for p in model.parameters())`` for zoo models
        without batch norm; batch-norm parameters are counted in ``meta['other_params']``)."""
        return sum(lay.weights for lay in self.layers)

    @property
    def params(self) -> int:
        """All parameters: :attr:`weights` plus ``meta['other_params']`` (batch norm etc.; 0 when absent)."""
        return self.weights + int(self.meta.get("other_params", 0))

    def to_record(self) -> dict[str, Any]:
        """A JSON-ready dict that :meth:`from_record` reads back into the same network: every field of every layer
        (``extra``, ``unit`` and ``precision`` included), the input shape and ``meta``."""
        layers = []
        for lay in self.layers:
            rec = {f.name: getattr(lay, f.name) for f in fields(Layer)}
            rec["kind"] = lay.kind.value
            rec["extra"] = dict(lay.extra)
            layers.append(rec)
        return {"name": self.name, "input_shape": list(self.input_shape) if self.input_shape else None,
                "meta": dict(self.meta), "layers": layers}

    @classmethod
    def from_record(cls, record: Mapping[str, Any], source: str = "network") -> "Network":
        """The network :meth:`to_record` wrote; TopologyError naming ``source`` and the layer when it is malformed."""
        try:
            layers = []
            for i, rec in enumerate(record["layers"]):
                rec = dict(rec)
                try:
                    rec["kind"] = LayerKind(rec["kind"])
                    layers.append(Layer(**rec))
                except (KeyError, TypeError, ValueError) as exc:
                    raise TopologyError(f"{source}: layer {i}: malformed ({exc})") from None
            shape = record.get("input_shape")
            return cls(str(record["name"]), tuple(layers), tuple(shape) if shape else None,
                       dict(record.get("meta") or {}))
        except (KeyError, TypeError) as exc:
            raise TopologyError(f"{source}: malformed network record ({exc})") from None
