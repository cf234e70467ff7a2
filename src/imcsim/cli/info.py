"""``imcsim version``: the installed version and the versions of the libraries the numbers depend on."""

from __future__ import annotations

import platform

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def version() -> None:
        """Print imcsim's version and the versions of its numerical dependencies."""
        import numpy
        import scipy

        import imcsim

        typer.echo(f"imcsim {imcsim.__version__} (python {platform.python_version()}, numpy {numpy.__version__}, "
                   f"scipy {scipy.__version__})")
