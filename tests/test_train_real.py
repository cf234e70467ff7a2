"""One training epoch on a small real subset of Fashion-MNIST lands well above chance."""

import pytest
import torch

from imcsim.train.data import FASHION_MNIST_DIR, load_dataset
from imcsim.train.trainer import TrainConfig, train


@pytest.mark.skipif(not FASHION_MNIST_DIR.is_dir(), reason="Debian dataset-fashion-mnist not installed")
def test_one_tpu_imac_epoch_on_2000_fashion_mnist_images():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        data = load_dataset("fashion-mnist").subset(2000, 1000)
        cfg = TrainConfig(target="tpu-imac", epochs=1, batch_size=32, lr=3e-3, seed=0)
        res = train(cfg, None, progress=False, data=data)
    finally:
        torch.set_num_threads(n)
    # ten balanced classes: chance is 10%
    assert res.test_accuracy > 0.5
