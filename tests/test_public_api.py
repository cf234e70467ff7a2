"""The names `imcsim` re-exports resolve to the objects of the modules that define them."""

import importlib
import subprocess
import sys

import pytest

import imcsim


@pytest.mark.parametrize("name", sorted(imcsim._LAZY))
def test_lazy_name_is_the_defining_modules_object(name):
    assert getattr(imcsim, name) is getattr(importlib.import_module(imcsim._LAZY[name]), name)


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no_such_name"):
        imcsim.no_such_name  # noqa: B018


def test_import_imcsim_does_not_load_torch():
    code = "import sys, imcsim; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"
