"""``imcsim xbar``: solve a crossbar with wire parasitics, export it to SPICE, check it against ngspice, and evaluate a
whole IMAC network on a dataset."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import typer

from imcsim.cli.options import (HARDWARE_FLAGS, AdcBitsOpt, AdcDnlOpt, AdcGainOpt, AdcInlOpt, AdcOffsetOpt, Format,
                                StuckHighOpt, StuckLowOpt, VariationKindOpt, VariationOpt, check_format,
                                config_default)
from imcsim.cli.output import emit
from imcsim.config.amplifier import AmplifierConfig
from imcsim.config.device import DeviceConfig
from imcsim.config.imac import IMACConfig
from imcsim.errors import ConfigError, DataError
from imcsim.io import dumps_json

xbar_app = typer.Typer(name="xbar", help="Circuit-level crossbar and IMAC network simulation (DC, with parasitics).",
                       no_args_is_help=True)

WeightsOpt = Annotated[Path, typer.Option("--weights", "-w", help="CSV, one row per input line, one column per "
                                          "output column; values -1, 0, +1.")]
InputsOpt = Annotated[Path, typer.Option("--inputs", "-x", help="CSV, one input vector of voltages (V) per row.")]
RInOpt = Annotated[Optional[float], typer.Option("--r-in", help="Input-line segment resistance per cell (ohm).")]
ROutOpt = Annotated[Optional[float], typer.Option("--r-out", help="I+/I- line segment resistance per cell (ohm).")]
TechOpt = Annotated[Optional[str], typer.Option("--tech", help="Wire technology giving --r-in/--r-out (9nm).")]
RLowOpt = Annotated[float, typer.Option("--r-low", help="Device low resistance (ohm).")]
RHighOpt = Annotated[float, typer.Option("--r-high", help="Device high resistance (ohm).")]
RAmpOpt = Annotated[float, typer.Option("--r-amp", help="Amplifier input resistance (ohm); 0 = ideal virtual ground.")]
TzOpt = Annotated[float, typer.Option("--transimpedance", help="Amplifier transimpedance (ohm) for v_amp.")]


def _tech(name: str):
    """The WireConfig of technology ``name``; the library's error, with the flag that gave the name."""
    from imcsim.config.wires import tech as tech_wires

    try:
        return tech_wires(name)
    except ConfigError as exc:
        raise ConfigError(f"--tech: {exc}") from None


def _wires(r_in: float | None, r_out: float | None, tech: str | None) -> tuple[float, float]:
    if tech is not None:
        if r_in is not None or r_out is not None:
            raise ConfigError("--tech: give either --tech or --r-in/--r-out, not both")
        w = _tech(tech)
        return w.r_in_ohm, w.r_out_ohm
    return (r_in or 0.0), (r_out or 0.0)


def _crossbar_and_inputs(weights: Path, inputs: Path, r_in: float | None, r_out: float | None, tech: str | None,
                         r_low: float, r_high: float, r_amp: float):
    from imcsim.circuit.crossbar import Crossbar
    from imcsim.circuit.network import read_matrix_csv
    from imcsim.config.base import parse_config

    device = parse_config(DeviceConfig, {"r_low_ohm": r_low, "r_high_ohm": r_high}, source="--r-low/--r-high")
    w = read_matrix_csv(weights, allowed=(-1.0, 0.0, 1.0), what="weight")
    v = read_matrix_csv(inputs)
    if v.shape[1] != w.shape[0]:
        raise DataError(f"{inputs}: {v.shape[1]} columns, expected {w.shape[0]} (one per row of {weights})")
    rin, rout = _wires(r_in, r_out, tech)
    return Crossbar.from_weights(w, device, rin, rout, r_amp), v


def _emit(text: str, output: Path | None) -> None:
    """Print ``text`` or write it atomically to ``output``, always ending in a newline."""
    emit(text if text.endswith("\n") else text + "\n", output)


# Flag defaults are the config defaults (one source of truth; tests/test_cli_defaults.py checks them).
R_LOW = config_default(DeviceConfig, "r_low_ohm")
R_HIGH = config_default(DeviceConfig, "r_high_ohm")
R_AMP = config_default(AmplifierConfig, "input_resistance_ohm")
TRANSIMPEDANCE = config_default(AmplifierConfig, "transimpedance_ohm")[0]
VDD = config_default(IMACConfig, "vdd_v")
VSS = config_default(IMACConfig, "vss_v")
ROWS = config_default(IMACConfig, "rows")
COLS = config_default(IMACConfig, "cols")
FmtOpt = Annotated[Format, typer.Option("--format", "-f", help="table (for people) or json.")]


def _check_format(fmt: Format) -> Format:
    return check_format(fmt, ("table", "json"), "xbar")


@xbar_app.command("solve")
def solve(weights: WeightsOpt, inputs: InputsOpt, r_in: RInOpt = None, r_out: ROutOpt = None, tech: TechOpt = None,
          r_low: RLowOpt = R_LOW, r_high: RHighOpt = R_HIGH, r_amp: RAmpOpt = R_AMP,
          transimpedance: TzOpt = TRANSIMPEDANCE, fmt: FmtOpt = Format.json,
          output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write here instead of stdout.")]
          = None,
          vdd: Annotated[float, typer.Option("--vdd", help="Positive rail (V) of the amplifiers.")] = VDD,
          vss: Annotated[float, typer.Option("--vss", help="Negative rail (V) of the amplifiers.")] = VSS) -> None:
    """Terminal currents i_plus, i_minus (A), amplifier outputs v_amp = transimpedance (I+ - I-) saturated at the
    rails [--vss, --vdd] (V), and power (W), one row per input vector."""
    _check_format(fmt)
    if not (math.isfinite(transimpedance) and transimpedance > 0):
        raise ConfigError(f"--transimpedance: {transimpedance!r} must be a positive, finite resistance (ohm)")
    if not vss < 0 < vdd:
        raise ConfigError(f"--vss/--vdd: rails {vss!r} V / {vdd!r} V must satisfy vss < 0 < vdd")
    xb, v = _crossbar_and_inputs(weights, inputs, r_in, r_out, tech, r_low, r_high, r_amp)
    ip, im, power = xb.outputs(v)
    v_lin = transimpedance * (ip - im)
    if not all(np.isfinite(a).all() for a in (ip, im, power, v_lin)):
        raise DataError(f"{inputs}: input voltages up to {np.abs(v).max():.3g} V give currents or power beyond "
                        "floating point (non-finite results)")
    v_amp = np.clip(v_lin, vss, vdd)  # an amplifier cannot leave its supply rails
    if fmt == Format.json:
        text = dumps_json({"i_plus": ip, "i_minus": im, "v_amp": v_amp, "power_w": power, "r_in_ohm": xb.r_in_ohm,
                           "r_out_ohm": xb.r_out_ohm, "r_amp_ohm": xb.r_amp_ohm,
                           "transimpedance_ohm": transimpedance, "rails_v": [vss, vdd]}, indent=None)
    else:
        lines = [f"crossbar {xb.rows}x{xb.cols}, r_in={xb.r_in_ohm:.4g} ohm, r_out={xb.r_out_ohm:.4g} ohm"]
        for k in range(len(v)):
            lines.append(f"vector {k}: power {power[k] * 1e3:.6g} mW")
            lines.append("  i_plus (uA):  " + " ".join(f"{x * 1e6:.6g}" for x in ip[k]))
            lines.append("  i_minus (uA): " + " ".join(f"{x * 1e6:.6g}" for x in im[k]))
            lines.append("  v_amp (V):    " + " ".join(f"{x:.6g}" for x in v_amp[k]))
        text = "\n".join(lines)
    _emit(text, output)


@xbar_app.command("spice")
def spice(inputs: InputsOpt,
          output: Annotated[Path, typer.Option("--output", "-o", help="Netlist file to write.")],
          weights: Annotated[Optional[Path], typer.Option("--weights", "-w", help="One crossbar: CSV, one row per "
                                                          "input line, one column per output; -1, 0, +1.")] = None,
          imacsim_dir: Annotated[Optional[Path], typer.Option("--imacsim-dir", help="A whole network instead: "
                                                              "W<k>.csv, B<k>.csv (IMAC-Sim layout).")] = None,
          rows: Annotated[int, typer.Option("--rows", min=1, help="With --imacsim-dir: crossbar rows.")] = ROWS,
          cols: Annotated[int, typer.Option("--cols", min=1, help="With --imacsim-dir: crossbar columns.")] = COLS,
          r_in: RInOpt = None, r_out: ROutOpt = None, tech: TechOpt = None, r_low: RLowOpt = R_LOW,
          r_high: RHighOpt = R_HIGH, r_amp: RAmpOpt = R_AMP) -> None:
    """Write a crossbar (--weights) or a whole IMAC network (--imacsim-dir: partitions, amplifiers and neurons as
    behavioural sources) as an ngspice netlist with one operating point per input vector (results to out<k>.raw;
    crossbar terminal currents are i(vtp<j>) and i(vtm<j>), network outputs v(out<j>))."""
    from imcsim.circuit.spice import crossbar_netlist, network_netlist

    if (weights is None) == (imacsim_dir is None):
        raise ConfigError("xbar spice: give exactly one of --weights and --imacsim-dir")
    if weights is not None:
        xb, v = _crossbar_and_inputs(weights, inputs, r_in, r_out, tech, r_low, r_high, r_amp)
        _emit(crossbar_netlist(xb, v), output)
        return
    from imcsim.circuit.network import IMACNetwork, read_matrix_csv
    from imcsim.config.base import parse_config
    if r_in is not None or r_out is not None:
        raise ConfigError("--r-in/--r-out: a network takes its wires from --tech (or ideal wires without it)")
    device = parse_config(DeviceConfig, {"r_low_ohm": r_low, "r_high_ohm": r_high}, source="--r-low/--r-high")
    amp = parse_config(AmplifierConfig, {"input_resistance_ohm": r_amp}, source="--r-amp")
    net = IMACNetwork.from_imacsim_dir(imacsim_dir, rows=rows, cols=cols, device=device, amplifier=amp,
                                       wires=_tech(tech) if tech else None)
    x = read_matrix_csv(inputs)
    if x.shape[1] != net.layers[0].n_in:
        raise DataError(f"{inputs}: {x.shape[1]} columns, expected {net.layers[0].n_in} (inputs of W1.csv)")
    _emit(network_netlist(net, x), output)


@xbar_app.command("compare")
def compare(weights: WeightsOpt, inputs: InputsOpt, r_in: RInOpt = None, r_out: ROutOpt = None, tech: TechOpt = None,
            r_low: RLowOpt = R_LOW, r_high: RHighOpt = R_HIGH, r_amp: RAmpOpt = R_AMP,
            fmt: FmtOpt = Format.table,
            timeout: Annotated[float, typer.Option("--timeout", help="Time limit of the ngspice run (s); ngspice is "
                                                   "killed beyond it.")] = 600.0) -> None:
    """Solve with the sparse solver and with ngspice; print the largest relative current difference and both times."""
    from imcsim.circuit.spice import compare_crossbar

    _check_format(fmt)
    if not (math.isfinite(timeout) and timeout > 0):
        raise ConfigError(f"--timeout: {timeout!r} must be a positive, finite number of seconds")
    xb, v = _crossbar_and_inputs(weights, inputs, r_in, r_out, tech, r_low, r_high, r_amp)
    c = compare_crossbar(xb, v, timeout_s=timeout)
    if fmt == Format.json:
        typer.echo(dumps_json({"max_rel_diff": c.max_rel_diff, "solver_s": c.solver_seconds,
                               "ngspice_s": c.ngspice_seconds, "vectors": c.n_vectors}, indent=None), nl=False)
    else:
        typer.echo(f"{xb.rows}x{xb.cols} crossbar, {c.n_vectors} vectors: max relative difference "
                   f"{c.max_rel_diff:.3e}; solver {c.solver_seconds:.4f} s, ngspice {c.ngspice_seconds:.4f} s "
                   f"({c.ngspice_seconds / max(c.solver_seconds, 1e-12):.1f}x)")


@xbar_app.command("evaluate")
def evaluate(
    deployment: Annotated[Optional[Path], typer.Option("--deployment", help="Deployment directory (train deploy).")]
    = None,
    dataset: Annotated[Optional[str], typer.Option("--dataset", help="Dataset for --deployment (default: the one "
                                                   "its run was trained on).")] = None,
    imacsim_dir: Annotated[Optional[Path], typer.Option("--imacsim-dir", help="Directory of W<k>.csv, B<k>.csv "
                                                        "(IMAC-Sim layout).")] = None,
    inputs: Annotated[Optional[Path], typer.Option("--inputs", "-x", help="With --imacsim-dir: test_data.csv.")]
    = None,
    labels: Annotated[Optional[Path], typer.Option("--labels", "-y", help="With --imacsim-dir: test_labels.csv.")]
    = None,
    rows: Annotated[Optional[int], typer.Option("--rows", help="Crossbar rows (default: the deployment's, or "
                                                "IMACConfig's).")]
    = None,
    cols: Annotated[Optional[int], typer.Option("--cols", help="Crossbar columns (differential pairs; default: the "
                                                "deployment's, or IMACConfig's).")] = None,
    parasitics: Annotated[bool, typer.Option("--parasitics/--no-parasitics", help="9 nm wire resistances.")] = True,
    output_adc: Annotated[bool, typer.Option("--output-adc/--analog-readout", help="With --deployment: classify "
                                             "through the deployment's output ADC (as `imcsim evaluate` does) or "
                                             "from the analog output voltages.")] = True,
    variation: VariationOpt = None,
    variation_kind: VariationKindOpt = None,
    stuck_low: StuckLowOpt = None,
    stuck_high: StuckHighOpt = None,
    adc_bits: AdcBitsOpt = None,
    adc_inl: AdcInlOpt = None,
    adc_dnl: AdcDnlOpt = None,
    adc_offset: AdcOffsetOpt = None,
    adc_gain: AdcGainOpt = None,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Chip seed: device variation, stuck-at faults and ADC "
                                      "instances of chip SEED, the chip `imcsim evaluate` draws for that seed.")] = 0,
    limit: Annotated[Optional[int], typer.Option("--limit", min=1, help="Evaluate the first N inputs only.")] = None,
    fmt: FmtOpt = Format.table,
) -> None:
    """Accuracy and mean crossbar power of an IMAC network over a whole test set."""
    from imcsim.circuit.network import IMACNetwork, load_imacsim_dataset
    from imcsim.config.wires import WireConfig

    _check_format(fmt)
    for name, val in (("--rows", rows), ("--cols", cols)):
        if val is not None and val < 1:
            raise ConfigError(f"{name}: {val} must be a positive number of lines")
    # the same hardware flags as `imcsim evaluate` (read noise and DAC bits aside: the circuit takes the deployment's
    # DAC output voltages, and its read noise is drawn per vector)
    given = {"variation": variation, "variation_kind": variation_kind, "stuck_low": stuck_low,
             "stuck_high": stuck_high, "adc_bits": adc_bits, "adc_inl": adc_inl, "adc_dnl": adc_dnl,
             "adc_offset": adc_offset, "adc_gain": adc_gain}
    hw_changes = {HARDWARE_FLAGS[k]: v for k, v in given.items() if v is not None}
    if imacsim_dir is not None:
        if deployment is not None:
            raise ConfigError("--imacsim-dir: give either --deployment or --imacsim-dir, not both")
        if inputs is None or labels is None:
            raise ConfigError("--imacsim-dir: needs --inputs and --labels")
        device = IMACConfig().device.replace_paths({k.split(".", 1)[1]: v for k, v in hw_changes.items()
                                                    if k.startswith("device.")})
        net = IMACNetwork.from_imacsim_dir(imacsim_dir, rows=rows or ROWS, cols=cols or COLS, device=device,
                                           wires=WireConfig() if parasitics else None, seed=seed)
        x, y = load_imacsim_dataset(inputs, labels, vdd_v=net.vdd_v, n_classes=net.layers[-1].n_out)
        source = str(imacsim_dir)
    elif deployment is not None:
        net, x, y = _deployment_data(deployment, dataset, parasitics, rows, cols, hw_changes, seed, limit,
                                      output_adc)
        source = str(deployment)
    else:
        raise ConfigError("xbar evaluate: give --deployment DIR or --imacsim-dir DIR --inputs "
                          "X.csv --labels Y.csv")
    if limit is not None:
        x, y = x[:limit], y[:limit]
    res = net.evaluate(x, y, seed=seed)
    changed = {k: v for k, v in (("rows", rows), ("cols", cols)) if v is not None} | hw_changes
    if not parasitics:
        changed["wires"] = "ideal"
    effects = net.effects()
    if fmt == Format.json:
        typer.echo(dumps_json({"source": source, "n": res.n, "accuracy": res.accuracy,
                               "mean_power_w": res.mean_power_w, "layer_power_w": list(res.layer_power_w),
                               "seconds": res.seconds, "rows": net.layers[0].partition.rows,
                               "cols": net.layers[0].partition.cols, "parasitics": parasitics,
                               "variation": net.device.variation, "seed": seed, "effects": effects,
                               "changed": changed}, indent=None), nl=False)
    else:
        part = net.layers[0].partition
        typer.echo(f"{source}: {res.n} inputs on {part.rows}x{part.cols} crossbars "
                   f"({'with' if parasitics else 'without'} parasitics, variation {net.device.variation:g}): accuracy "
                   f"{100 * res.accuracy:.2f}%, mean crossbar power {res.mean_power_w * 1e3:.4g} mW "
                   f"(layers: {', '.join(f'{p * 1e3:.4g}' for p in res.layer_power_w)} mW), {res.seconds:.2f} s")
        from imcsim.circuit.chip import describe_effects

        typer.echo(f"effects (chip {seed}): {describe_effects(effects)}")
        if deployment is not None:
            typer.echo("changed from the deployment's hardware: " + (", ".join(f"{k} = {v}" for k, v in
                                                                             changed.items()) or "nothing"))


def _deployment_data(path: Path, dataset: str | None, parasitics: bool, rows: int | None, cols: int | None,
                     hw_changes: dict, seed: int, limit: int | None, output_adc: bool = True):
    """The IMAC part of a Deployment and its test set as IMAC input voltages (the digital front end runs in torch)."""
    from imcsim.circuit.network import IMACNetwork
    from imcsim.train.deploy import load_deployment

    dep = load_deployment(path)
    ds = dep.load_data(dataset=dataset)  # resized as the run's images were (its image_size)
    if tuple(ds.x_test.shape[1:]) != tuple(dep.input_shape):
        raise DataError(f"--dataset {ds.name}: images of shape {tuple(ds.x_test.shape[1:])}, but the deployment's "
                        f"model takes {tuple(dep.input_shape)}")
    if ds.name != dep.dataset:
        typer.echo(f"warning: {path} was trained on '{dep.dataset}', evaluating on '{ds.name}'", err=True)
    x, y = ds.x_test, ds.y_test
    if limit is not None:
        x, y = x[:limit], y[:limit]
    hw = dep.imac_config().replace_paths(hw_changes) if hw_changes else None
    net = IMACNetwork.from_deployment(dep, parasitics=parasitics, rows=rows, cols=cols, hw=hw,
                                      seed=seed, output_adc=output_adc)
    return net, np.asarray(dep.frontend(x)), np.asarray(y)


def register(app: typer.Typer) -> None:
    app.add_typer(xbar_app, name="xbar")
