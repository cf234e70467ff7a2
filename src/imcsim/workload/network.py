"""A workload: a named, ordered list of layers."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

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
