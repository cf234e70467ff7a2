"""The ``--model`` / ``--input-shape`` / ``--model-args`` options every workload-taking command shares, and their
resolution (a thin shell over :func:`imcsim.workload.resolve.load_workload`).

A command declares them with the factories below (one fresh typer option each) and calls :func:`load_from_options`:

    model: Optional[str] = model_option(),
    input_shape: Optional[str] = input_shape_option(),
    model_args: Optional[str] = model_args_option(),
    ...
    network = load_from_options(model, input_shape, model_args)
"""

from __future__ import annotations

from typing import Any

import typer

from imcsim.errors import ConfigError, ModelError

__all__ = ["MODEL_HELP", "model_option", "input_shape_option", "model_args_option", "parse_options",
           "load_from_options"]

MODEL_HELP = ("Zoo model name (see `imcsim models`), FILE.onnx, or path/to/file.py:ClassName (a torch.nn.Module; "
              "give --input-shape).")


def model_option(default: str | None = None, help: str = MODEL_HELP) -> Any:
    """``--model/-m``."""
    return typer.Option(default, "--model", "-m", help=help)


def input_shape_option() -> Any:
    """``--input-shape C,H,W``."""
    return typer.Option(None, "--input-shape", help="One input's shape without the batch, e.g. 3,32,32 (needed by "
                        "file.py:ClassName models; fixes symbolic ONNX inputs; rebuilds a zoo model at that size).")


def model_args_option() -> Any:
    """``--model-args JSON``."""
    return typer.Option(None, "--model-args", help='Constructor keyword arguments as a JSON object, e.g. '
                        '\'{"num_classes": 100}\' (zoo and file.py:ClassName models).')


def parse_options(input_shape: str | None, model_args: str | None) -> tuple[tuple[int, ...] | None, dict]:
    """(input shape, model arguments) from the two flags' texts; ConfigError naming the flag and the value."""
    from imcsim.workload.resolve import parse_input_shape, parse_model_args

    try:
        shape = parse_input_shape(input_shape)
    except ModelError:
        raise ConfigError(f"--input-shape = {input_shape!r}: give comma-separated positive integers, e.g. "
                          "3,32,32") from None
    try:
        args = parse_model_args(model_args)
    except ModelError as exc:
        raise ConfigError(str(exc).replace("model_args = ", "--model-args = ", 1)) from None
    return shape, args


def load_from_options(model: str, input_shape: str | None = None, model_args: str | None = None):
    """The :class:`~imcsim.workload.network.Network` of ``--model`` with ``--input-shape`` and ``--model-args``."""
    from imcsim.workload.resolve import load_workload

    shape, args = parse_options(input_shape, model_args)
    return load_workload(model, shape, args)
