"""Performance, energy and area models: pure functions of (layer, config) -> LayerCost."""

from imcsim.arch.cost import LayerCost, NetworkCost

__all__ = ["LayerCost", "NetworkCost"]
