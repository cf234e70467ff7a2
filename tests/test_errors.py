"""One error class per kind of bad input, whichever path the input takes."""

from __future__ import annotations

import numpy as np
import pytest

from imcsim.errors import DataError, ImcsimError, WeightLevelError


def test_the_same_bad_weight_level_raises_the_same_class_on_every_path(tmp_path):
    from imcsim.arch import imac
    from imcsim.circuit.crossbar import Crossbar
    from imcsim.circuit.network import IMACNetwork, read_matrix_csv
    from imcsim.config.imac import IMACConfig
    from imcsim.workload.layer import Layer

    bad = np.array([[1.0, 0.5], [-1.0, 1.0]])  # 0.5 is no weight level
    csv = tmp_path / "W.csv"
    csv.write_text("1,0.5\n-1,1\n")
    raised = []
    for call in (lambda: read_matrix_csv(csv, allowed=(-1.0, 0.0, 1.0), what="weight"),
                 lambda: Crossbar.from_weights(bad),
                 lambda: IMACNetwork.from_weights([(bad, np.zeros(2))]),
                 lambda: imac.simulate_layer(Layer.linear("fc", 2, 2, bias=False), IMACConfig(), weights=bad)):
        with pytest.raises(WeightLevelError, match="0.5") as info:
            call()
        raised.append(type(info.value))
    assert raised == [WeightLevelError] * 4
    assert issubclass(WeightLevelError, DataError) and issubclass(WeightLevelError, ImcsimError)
