"""Command-line interface; see :mod:`imcsim.cli.app`."""
