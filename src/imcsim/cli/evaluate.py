"""``imcsim evaluate``: accuracy of a trained run on its hardware, nominal and Monte Carlo over non-ideality seeds
(thin shell over :func:`imcsim.train.evaluate.evaluate_run`)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from imcsim.cli.options import (AdcBitsOpt, AdcDnlOpt, AdcGainOpt, AdcInlOpt, AdcOffsetOpt, DacBitsOpt, Format,
                                ReadNoiseOpt, StuckHighOpt, StuckLowOpt, VariationKindOpt, VariationOpt, check_format)


def register(app: typer.Typer) -> None:
    @app.command("evaluate")
    def evaluate_cmd(
        run: Path = typer.Argument(..., help="Run or deployment directory written by `imcsim train`."),
        mc: int = typer.Option(0, min=0, help="Monte Carlo samples (chips)."),
        seed: int = typer.Option(0, help="Seed of the first Monte Carlo chip."),
        variation: VariationOpt = None,
        variation_kind: VariationKindOpt = None,
        stuck_low: StuckLowOpt = None,
        stuck_high: StuckHighOpt = None,
        read_noise: ReadNoiseOpt = None,
        adc_bits: AdcBitsOpt = None,
        adc_inl: AdcInlOpt = None,
        adc_dnl: AdcDnlOpt = None,
        adc_offset: AdcOffsetOpt = None,
        adc_gain: AdcGainOpt = None,
        dac_bits: DacBitsOpt = None,
        ir_drop: Optional[str] = typer.Option(None, "--ir-drop", help="Wire IR drop: off, first-order or exact."),
        data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="Dataset directory."),
        test_limit: Optional[int] = typer.Option(None, "--test-limit", min=1, help="Use the first N test images."),
        fmt: Format = typer.Option(Format.table, "--format", "-f", help="table (for people) or json."),
    ) -> None:
        """Evaluate RUN: nominal accuracy and, with --mc N, mean/std/min over N chips."""
        from imcsim.train.evaluate import HardwareChanges, evaluate_run

        check_format(fmt, ("table", "json"), "evaluate")
        ov = HardwareChanges(variation, variation_kind, stuck_low, stuck_high, read_noise, adc_bits, adc_inl,
                               adc_dnl, adc_offset, adc_gain, dac_bits, ir_drop)
        res = evaluate_run(run, mc=mc, seed=seed, changes=ov, data_dir=str(data_dir) if data_dir else None,
                           test_limit=test_limit)
        if fmt == Format.json:
            from imcsim.io import dumps_json

            typer.echo(dumps_json(res.to_dict()), nl=False)
            return
        from imcsim.report.tables import Column, render

        rows = [{"run": "nominal", "accuracy": res.accuracy, "std": None, "min": None, "n": 1}]
        if res.mc:
            rows.append({"run": f"Monte Carlo (seeds {res.mc['seed']}..{res.mc['seed'] + res.mc['n'] - 1})",
                         "accuracy": res.mc["mean"], "std": res.mc["std"], "min": res.mc["min"], "n": res.mc["n"]})
        cols = [Column("run"), Column("accuracy", "accuracy (mean)", "fraction"), Column("std", "std", "fraction"),
                Column("min", "min", "fraction"), Column("n", "chips", "count")]
        typer.echo(render(rows, cols, "table", title=f"{run} on {res.n_test} test images"))
        from imcsim.circuit.chip import describe_effects

        for key, label in (("nominal", "nominal"), ("mc", "Monte Carlo chips")):
            if key in res.effects:
                typer.echo(f"effects ({label}): {describe_effects(res.effects[key])}")
        if res.effects:
            typer.echo("changed from the run's hardware: " + (", ".join(f"{k} = {v}" for k, v in res.changed.items())
                                                              or "nothing"))
