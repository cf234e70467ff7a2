"""One resolver for workload specs: a zoo name, an ONNX file, or a PyTorch module class in a Python file.

Spec forms (``model``):

* ``resnet18``: a zoo model (:mod:`imcsim.workload.zoo`); ``input_shape`` and ``model_args`` (constructor keyword
  arguments, e.g. ``{"num_classes": 100}``) rebuild it at another size;
* ``path/to/model.onnx``: an ONNX file (:func:`~imcsim.workload.from_onnx.from_onnx`); ``input_shape`` fixes
  symbolic input dimensions;
* ``path/to/file.py:ClassName``: the ``torch.nn.Module`` subclass ``ClassName`` defined in that file, built as
  ``ClassName(**model_args)`` and traced with :func:`~imcsim.workload.from_torch.from_torch` at ``input_shape``
  (required). The file is run as a module (its directory on ``sys.path`` while it loads, so it may import its
  neighbours); relative paths are relative to the working directory.

:func:`load_workload` gives the :class:`~imcsim.workload.network.Network` (costing), :func:`load_module` the torch
module (training). Every failure is a :class:`~imcsim.errors.ModelError` naming the spec.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from imcsim.errors import ModelError
from imcsim.workload.network import Network
from imcsim.workload.shapes import check_input_shape

__all__ = ["load_workload", "load_module", "workload_kind", "parse_input_shape", "parse_model_args"]


def workload_kind(model: str) -> str:
    """``"onnx"``, ``"python"`` (``file.py:ClassName``) or ``"zoo"``: how :func:`load_workload` reads ``model``."""
    if not isinstance(model, str) or not model.strip():
        raise ModelError(f"model = {model!r}: give a zoo name, FILE.onnx or path/to/file.py:ClassName")
    if model.lower().endswith(".onnx"):
        return "onnx"
    path, sep, cls = model.rpartition(":")
    if sep and path.lower().endswith(".py"):
        return "python"
    if model.lower().endswith(".py"):
        raise ModelError(f"model = {model!r}: name the module class too, as path/to/file.py:ClassName")
    return "zoo"


def load_workload(model: str, input_shape: Sequence[int] | None = None,
                  model_args: Mapping[str, Any] | None = None) -> Network:
    """The :class:`Network` of a workload spec (see the module docstring).

    Args:
        model: a zoo name, ``FILE.onnx`` or ``path/to/file.py:ClassName``.
        input_shape: one input's shape without the batch dimension, e.g. (3, 32, 32); required for a Python file.
        model_args: constructor keyword arguments of a zoo or Python-file model (not for ONNX files).
    """
    kind = workload_kind(model)
    args = parse_model_args(model_args)
    shape = parse_input_shape(input_shape)
    if kind == "zoo":
        _zoo_entry(model)
    if kind == "onnx":
        if args:
            raise ModelError(f"model '{model}': an ONNX file takes no model_args (its weights are in the file)")
        from imcsim.workload.from_onnx import from_onnx

        return from_onnx(model, shape)
    if kind == "zoo" and shape is None and not args:
        from imcsim.workload.zoo import load_network

        return load_network(model)
    if kind == "python" and shape is None:
        raise ModelError(f"model '{model}': a Python model needs input_shape, one input's shape without the batch "
                         "dimension (e.g. 3,32,32)")
    from imcsim.workload.from_torch import from_torch

    if kind == "zoo":
        from imcsim.workload.zoo import get_model

        entry = get_model(model)
        shape = shape or entry.input_shape
    module = _build(model, args, meta=True)
    name = get_model(model).name if kind == "zoo" else model.rpartition(":")[2]
    net = from_torch(module, shape, name=name)
    net.meta.update(source=model)
    return net


def load_module(model: str, model_args: Mapping[str, Any] | None = None, num_classes: int | None = None):
    """The ``torch.nn.Module`` of a zoo name or ``path/to/file.py:ClassName``, built on the CPU with ``model_args``
    (plus ``num_classes`` for a zoo model, when given; a Python-file model gets only ``model_args``)."""
    kind = workload_kind(model)
    if kind == "onnx":
        raise ModelError(f"model '{model}': an ONNX file has no torch module to train; give a zoo name or "
                         "path/to/file.py:ClassName")
    args = parse_model_args(model_args)
    if kind == "zoo":
        _zoo_entry(model)
    if kind == "zoo" and num_classes is not None:
        args = {"num_classes": num_classes, **args}
    return _build(model, args, meta=False)


def parse_input_shape(value: str | Sequence[int] | None) -> tuple[int, ...] | None:
    """``"3,32,32"`` or (3, 32, 32) -> (3, 32, 32); None stays None."""
    if value is None:
        return None
    if isinstance(value, str):
        parts = [p.strip() for p in value.split(",")]
        try:
            value = tuple(int(p) for p in parts)
        except ValueError:
            raise ModelError(f"input_shape = {value!r} must be comma-separated positive integers, e.g. 3,32,32") \
                from None
    return check_input_shape(value)


def parse_model_args(value: str | Mapping[str, Any] | None) -> dict[str, Any]:
    """A JSON object text or a mapping -> a dict of constructor keyword arguments ({} for None)."""
    if value is None:
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ModelError(f"model_args = {value!r} is not JSON ({exc.msg} at character {exc.pos})") from None
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise ModelError(f"model_args = {value!r} must be a JSON object of constructor keyword arguments, e.g. "
                         '{"num_classes": 10}')
    return dict(value)


# ----- building -----------------------------------------------------------------------------------------------------

def _build(model: str, args: dict[str, Any], meta: bool):
    """Construct the module; ``meta``: on torch's meta device (shapes only, nothing allocated), falling back to the
    CPU for constructors that need real tensors."""
    import torch

    if workload_kind(model) == "zoo":
        from imcsim.workload.zoo import get_model

        factory, label = get_model(model).build, f"zoo model '{model}'"
    else:
        factory, label = _module_class(model), f"model '{model}'"
    if meta:
        try:
            with torch.device("meta"):
                return factory(**args)
        except Exception:  # e.g. a constructor that reads tensor values; the CPU attempt below reports real errors
            pass
    try:
        return factory(**args)
    except Exception as exc:
        shown = ", ".join(f"{k}={v!r}" for k, v in args.items())
        raise ModelError(f"{label}: constructing it with ({shown}) failed ({_first_line(exc)})") from None


def _module_class(model: str) -> type:
    """The ``torch.nn.Module`` subclass named by ``path/to/file.py:ClassName``."""
    from torch import nn

    path_text, _, cls_name = model.rpartition(":")
    path = Path(path_text)
    if not path.is_file():
        raise ModelError(f"model '{model}': no such file '{path_text}'")
    mod_name = "imcsim_user_" + hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(mod_name, path)
    if spec is None or spec.loader is None:
        raise ModelError(f"model '{model}': '{path_text}' cannot be loaded as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    folder = str(path.resolve().parent)
    sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:  # a syntax error, a failed import, a SystemExit in the file
        sys.modules.pop(mod_name, None)
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise ModelError(f"model '{model}': running '{path_text}' failed ({_first_line(exc)})") from None
    finally:
        if folder in sys.path:
            sys.path.remove(folder)
    cls = getattr(module, cls_name, None)
    if not (inspect.isclass(cls) and issubclass(cls, nn.Module)):
        found = sorted(n for n, v in vars(module).items()
                       if inspect.isclass(v) and issubclass(v, nn.Module) and v.__module__ == mod_name)
        what = "is not a torch.nn.Module class" if cls is not None else "is not defined there"
        raise ModelError(f"model '{model}': '{cls_name}' {what} (module classes in the file: "
                         f"{', '.join(found) or 'none'})")
    return cls


def _zoo_entry(model: str):
    """The zoo entry, with the other spec forms named when ``model`` is none of the zoo's names."""
    from imcsim.workload.zoo import get_model

    try:
        return get_model(model)
    except ModelError as exc:
        raise ModelError(f"{exc} (or give FILE.onnx or path/to/file.py:ClassName)") from None


def _first_line(exc: BaseException) -> str:
    text = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
    return f"{type(exc).__name__}: {text[0] if text else ''}"
