"""Where a command's result goes: standard output, or a file written atomically."""

from __future__ import annotations

from pathlib import Path

import typer


def emit(text: str, output: str | Path | None) -> None:
    """Print ``text`` as is, or write it atomically to ``output`` and say so on stderr (stdout stays clean)."""
    if output is None:
        typer.echo(text, nl=False)
        return
    from imcsim.io import write_atomic

    write_atomic(output, text)
    typer.echo(f"wrote {output}", err=True)
