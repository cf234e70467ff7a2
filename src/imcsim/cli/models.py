"""``imcsim models``: list the model zoo, or show one model's layers (a zoo model, an ONNX file or a model class in a
Python file).

Library calls: :func:`imcsim.workload.zoo_info.zoo_rows` (one row per model, without torch) and
:func:`imcsim.workload.resolve.load_workload` (a model's layers).
"""

from __future__ import annotations

import json
from typing import Optional

import typer

from imcsim.cli.options import Format
from imcsim.cli.workload import input_shape_option, load_from_options, model_args_option
from imcsim.errors import ConfigError


def _csv(rows: list[dict]) -> str:
    """CSV with one column per key of the first row; a shape (a list) is written as CxHxW."""
    from imcsim.report.tables import Column, render

    flat = [{k: "x".join(map(str, v)) if isinstance(v, list) else v for k, v in r.items()} for r in rows]
    return render(flat, [Column(k) for k in rows[0]], "csv")


def _console():
    from rich.console import Console

    console = Console()
    if not console.is_terminal:  # piped or captured: do not squeeze the table into 80 columns
        console = Console(width=200)
    return console


def _zoo_table(rows: list[dict]):
    from rich.table import Table

    table = Table(title="imcsim model zoo (batch 1)")
    for col, justify in (("name", "left"), ("dataset", "left"), ("input (CxHxW)", "left"), ("parameters", "right"),
                         ("MACs", "right"), ("layers (with MACs)", "right"), ("description", "left")):
        table.add_column(col, justify=justify)
    for r in rows:
        table.add_row(r["name"], r["dataset"], "x".join(map(str, r["input_shape"])), f"{r['params']:,}",
                      f"{r['macs']:,}", str(r["layers"]), r["description"])
    return table


def _layer_table(net):
    from rich.table import Table

    table = Table(title=f"{net.name}: {len(net)} layers ({len(net.compute_layers)} with MACs), {net.macs:,} MACs, "
                        f"{net.params:,} parameters")
    for col in ("layer", "kind", "op", "input (HxWxC)", "output (HxWxC)", "kernel", "stride", "pad", "groups"):
        table.add_column(col)
    table.add_column("MACs", justify="right")
    table.add_column("weights", justify="right")
    for lay in net.layers:
        table.add_row(lay.name, lay.kind.value, lay.op, f"{lay.in_h}x{lay.in_w}x{lay.in_c}",
                      f"{lay.out_h}x{lay.out_w}x{lay.out_c}", f"{lay.kernel_h}x{lay.kernel_w}",
                      f"{lay.stride_h}x{lay.stride_w}", f"{lay.pad_h}x{lay.pad_w}", str(lay.groups),
                      f"{lay.macs:,}", f"{lay.weights:,}")
    return table


def register(app: typer.Typer) -> None:
    @app.command()
    def models(
        name: str = typer.Argument(None, help="Show this model's layers instead of the list: a zoo name, FILE.onnx or "
                                   "path/to/file.py:ClassName."),
        input_shape: Optional[str] = input_shape_option(),
        model_args: Optional[str] = model_args_option(),
        fmt: Format = typer.Option(Format.table, "--format", "-f", help="Output format."),
    ) -> None:
        """List the model zoo (dataset, input shape, parameters, MACs, layers), or one model's layers."""
        if name is None and (input_shape is not None or model_args is not None):
            raise ConfigError("--input-shape and --model-args apply to a named model")
        if name is not None:
            net = load_from_options(name, input_shape, model_args)
            if fmt == Format.csv:
                typer.echo(_csv([lay.to_dict() for lay in net.layers]), nl=False)
            elif fmt == Format.json:
                typer.echo(json.dumps({"name": net.name, "input_shape": list(net.input_shape or ()),
                                       "macs": net.macs, "weights": net.weights,
                                       "other_params": net.meta.get("other_params", 0),
                                       "layers": [lay.to_dict() for lay in net.layers]}, indent=2))
            else:
                _console().print(_layer_table(net))
            return
        from imcsim.workload import zoo_info  # static listing data: no torch, no tracing

        rows = zoo_info.zoo_rows()
        if fmt == Format.csv:
            typer.echo(_csv(rows), nl=False)
        elif fmt == Format.json:
            typer.echo(json.dumps(rows, indent=2))
        else:
            _console().print(_zoo_table(rows))
