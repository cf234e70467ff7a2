"""The ``imcsim`` command: a thin Typer shell over the library.

Each command group lives in its own module under ``imcsim.cli`` and exposes ``register(app)``. User errors
(:class:`imcsim.ImcsimError`) print one line on stderr and exit with status 2.
"""

from __future__ import annotations

import importlib
import sys

import typer
from typer.exceptions import TyperException

from imcsim.errors import ImcsimError

# Command modules, each with a ``register(app: typer.Typer) -> None``. One line per module.
_COMMAND_MODULES = [
    "info",
    "xbar",
    "models",
    "simulate",
    "compare",
    "train",
    "evaluate",
    "map",
    "sweep",
]

app = typer.Typer(
    name="imcsim",
    help="Design and evaluate heterogeneous mixed-signal CNN accelerators (systolic/CPU + in-memory analog).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for _mod in _COMMAND_MODULES:
    importlib.import_module(f"imcsim.cli.{_mod}").register(app)


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point; returns the process exit status."""
    try:
        # Outside standalone mode typer *returns* the code of a ``typer.Exit`` (and turns Ctrl-C into Exit(130))
        # instead of raising it: pass it on, so that an interrupted command does not exit with status 0.
        code = app(args=argv, standalone_mode=False)
    except ImcsimError as exc:
        typer.echo(f"error: {exc}", err=True)
        return 2
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        typer.echo("aborted", err=True)
        return 130
    except TyperException as exc:  # usage errors: a bad flag or flag value
        if type(exc).__name__ == "NoArgsIsHelpError":
            typer.echo(exc.format_message())
            return 0
        typer.echo(f"error: {_usage_message(exc)}", err=True)
        return 2
    if isinstance(code, int) and not isinstance(code, bool) and code != 0:
        if code == 130:
            typer.echo("interrupted", err=True)
        return code
    return 0


def _usage_message(exc: TyperException) -> str:
    """Typer's one-line usage error, with the rejected value added when typer left it out (it keeps it only in the
    pydantic error it chains), e.g. ``Invalid value for '--bandwidth' = 'abc': Input should be a valid number``."""
    msg = exc.format_message().replace("Value error, ", "")
    cause = exc.__cause__ or exc.__context__
    errors = getattr(cause, "errors", None)
    if callable(errors) and msg.startswith("Invalid value for "):
        try:
            value = errors()[0]["input"]
        except (IndexError, KeyError, TypeError):  # not a pydantic error after all: keep typer's message
            return msg
        head, sep, tail = msg.partition(": ")
        if sep and repr(value) not in msg:
            return f"{head} = {value!r}: {tail}"
    return msg


if __name__ == "__main__":
    sys.exit(main())
