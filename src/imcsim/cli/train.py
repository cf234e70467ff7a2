"""``imcsim train``: hardware-aware mixed-precision training of a zoo or file model on a real dataset (thin shell over
:func:`imcsim.train.trainer.train`)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from imcsim.cli.options import (HARDWARE_FLAGS, AdcBitsOpt, AdcDnlOpt, AdcGainOpt, AdcInlOpt, AdcOffsetOpt,
                                DacBitsOpt, ReadNoiseOpt, StuckHighOpt, StuckLowOpt, VariationKindOpt, VariationOpt,
                                config_default)
from imcsim.cli.workload import input_shape_option, model_args_option, model_option, parse_options
from imcsim.errors import ConfigError, DataError
from imcsim.train.config import IMC_TARGETS, TrainConfig


def _d(field: str):
    """The TrainConfig default of ``field``: flag defaults are never restated here (tests/test_cli_defaults.py)."""
    return config_default(TrainConfig, field)


def _imac_fields(spec: str | None) -> dict:
    """IMACConfig fields from a preset name or a YAML file (empty: the defaults)."""
    if not spec:
        return {}
    from imcsim.config.base import load_config
    from imcsim.config.imac import IMACConfig

    if Path(spec).is_file():
        return load_config(IMACConfig, spec).model_dump(mode="json")
    from imcsim.config.presets import load_preset

    cfg = load_preset(spec)
    if not isinstance(cfg, IMACConfig):
        raise ConfigError(f"--imac {spec!r}: preset is a {type(cfg).__name__}, not an IMAC config")
    return cfg.model_dump(mode="json")


def _imc_fields(spec: str | None) -> dict:
    """IMCConfig fields from a preset name or a YAML file (empty: the defaults)."""
    if not spec:
        return {}
    from imcsim.config.imc import load_imc

    return load_imc(spec).model_dump(mode="json")


def _image_size(text: str | None) -> tuple[int, int] | None:
    """``--image-size`` as (height, width); ConfigError naming the flag and the value."""
    if text is None:
        return None
    from imcsim.train.data import parse_image_size

    try:
        return parse_image_size(text)
    except ConfigError:
        raise ConfigError(f"--image-size {text!r}: expected HxW or one size N for NxN, positive integers (e.g. "
                          "20x20 or 20)") from None


def _as_flag(exc: DataError) -> DataError:
    """``exc`` with the ``image_size`` field named as the flag that sets it (library messages name fields)."""
    text = str(exc)
    if text.startswith("image_size = "):
        text = "--image-size " + text[len("image_size = "):]
    return type(exc)(text.replace("set image_size = ", "add --image-size "))


def register(app: typer.Typer) -> None:
    @app.command("train")
    def train_cmd(
        out: str = typer.Option(..., "--out", help="Run directory (checkpoint, deployment, metrics)."),
        model: str = model_option(_d("model"), help="Zoo model name or path/to/file.py:ClassName (a torch.nn.Module "
                                  "whose input and class count fit the dataset)."),
        input_shape: Optional[str] = input_shape_option(),
        model_args: Optional[str] = model_args_option(),
        dataset: str = typer.Option(_d("dataset"), help="fashion-mnist, mnist, cifar10, mnist-5k or csv."),
        data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="Dataset directory."),
        image_size: Optional[str] = typer.Option(None, "--image-size", help="Area-average the images to HxW pixels "
                                                 "(or N: NxN; shrinking only), e.g. 20x20 for --model mlp on MNIST; "
                                                 "evaluations of the run resize the same way."),
        target: str = typer.Option(_d("target"), help="tpu-imac, cpu-imac, digital, float, all-imc or tpu-imc."),
        epochs: int = typer.Option(_d("epochs"), min=0, help="Epochs in the target precision."),
        pretrain_epochs: int = typer.Option(_d("pretrain_epochs"), "--pretrain-epochs", min=0,
                                            help="Float epochs before conversion."),
        batch_size: int = typer.Option(_d("batch_size"), "--batch-size", min=1),
        optimizer: str = typer.Option(_d("optimizer"), help="adamw or sgd."),
        lr: float = typer.Option(_d("lr"), help="Learning rate (target phase)."),
        pretrain_lr: float = typer.Option(_d("pretrain_lr"), "--pretrain-lr", help="Learning rate (float phase)."),
        weight_decay: float = typer.Option(_d("weight_decay"), "--weight-decay"),
        schedule: str = typer.Option(_d("schedule"), help="cosine, step or constant."),
        seed: int = typer.Option(_d("seed"), help="Seed (initialisation, data order, noise)."),
        train_limit: Optional[int] = typer.Option(_d("train_limit"), "--train-limit",
                                                  help="Use the first N training images."),
        test_limit: Optional[int] = typer.Option(_d("test_limit"), "--test-limit", help="Use the first N test images."),
        precision: Optional[str] = typer.Option(_d("precision"), help="IMAC weights: binary or ternary."),
        conv_bits: int = typer.Option(_d("conv_bits"), "--conv-bits", help="Digital weight bits."),
        act_bits: int = typer.Option(_d("act_bits"), "--act-bits", help="Digital activation bits."),
        imac: Optional[str] = typer.Option(None, "--imac", help="IMAC preset name or YAML file."),
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
        imc: Optional[str] = typer.Option(None, "--imc", help="IMC core of all-imc / tpu-imc: isaac, puma, hermes "
                                          "or an IMCConfig YAML file."),
        noise_aware: bool = typer.Option(_d("noise_aware"), "--noise-aware", help="Fresh non-idealities every batch."),
        init_from: Optional[Path] = typer.Option(None, "--init-from", help="Convert the trained model of this float "
                                                 "run directory instead of a fresh one."),
        ir_drop: Optional[str] = typer.Option(None, "--ir-drop",
                                              help="Wire IR drop in training: off, first-order, exact (default: the "
                                                   "target's: exact for IMAC targets, off for IMC targets)."),
        resume: bool = typer.Option(False, "--resume", help="Continue from OUT/checkpoint.pt."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace the run another training left in OUT."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or per-epoch lines."),
    ) -> None:
        """Train MODEL on DATASET for TARGET; write checkpoints every epoch and the deployment to OUT."""
        from imcsim.config.base import parse_config
        from imcsim.train.trainer import train

        shape, args = parse_options(input_shape, model_args)
        size = _image_size(image_size)
        imc_target = target in IMC_TARGETS
        given = {"variation": variation, "variation_kind": variation_kind, "stuck_low": stuck_low,
                 "stuck_high": stuck_high, "read_noise": read_noise, "adc_bits": adc_bits, "adc_inl": adc_inl,
                 "adc_dnl": adc_dnl, "adc_offset": adc_offset, "adc_gain": adc_gain, "dac_bits": dac_bits}
        # The same dotted paths exist on IMACConfig and IMCConfig (device, adc, dac).
        changes = {HARDWARE_FLAGS[name]: v for name, v in given.items() if v is not None}
        if imc_target:
            fields = _imc_fields(imc)
            if changes:
                from imcsim.config.imc import IMCConfig

                fields = parse_config(IMCConfig, fields, source="IMC config").replace_paths(changes).model_dump(
                    mode="json")
        else:
            fields = _imac_fields(imac)
            if changes:  # on top of the IMAC unit the run would train on (the target's, or --imac)
                base = parse_config(TrainConfig, {"target": target, "imac": fields}, source="IMAC config").imac
                fields = base.replace_paths(changes).model_dump(mode="json")
        cfg = parse_config(TrainConfig, {
            "model": model, "dataset": dataset, "data_dir": str(data_dir) if data_dir else None, "target": target,
            "image_size": size,
            "model_args": args or None, "input_shape": list(shape) if shape else None,
            "epochs": epochs, "pretrain_epochs": pretrain_epochs, "batch_size": batch_size, "optimizer": optimizer,
            "lr": lr, "pretrain_lr": pretrain_lr, "weight_decay": weight_decay, "schedule": schedule, "seed": seed,
            "train_limit": train_limit, "test_limit": test_limit, "precision": precision, "conv_bits": conv_bits,
            "act_bits": act_bits, "noise_aware": noise_aware, "init_from": str(init_from) if init_from else None,
            ("imc" if imc_target else "imac"): fields,
            **({"ir_drop": ir_drop} if ir_drop is not None else {})},
            source="imcsim train")
        cfg.imac_config()  # validate the hardware fields before loading data
        if not out.strip():
            raise ConfigError("--out: the run directory is empty ('')")
        if resume and overwrite:
            raise ConfigError("--resume and --overwrite: choose one (continue the run in OUT, or replace it)")
        try:
            result = train(cfg, out, resume=resume, overwrite=overwrite, progress=None if not quiet else False,
                           log=None if quiet else typer.echo, note=lambda text: typer.echo(f"note: {text}", err=True))
        except DataError as exc:
            raise _as_flag(exc) from None
        at = f" at {cfg.image_size[0]}x{cfg.image_size[1]}" if cfg.image_size else ""
        typer.echo(f"{cfg.model} on {cfg.dataset}{at}, target {cfg.target}: test accuracy "
                   f"{result.test_accuracy * 100:.2f}% after {len(result.history)} "
                   f"epoch{'s' if len(result.history) != 1 else ''}; run in {out}")
        if cfg.target in ("tpu-imac", "cpu-imac"):
            typer.echo(f"  (the training's own model: nominal chip, IR drop {cfg.ir_drop}; `imcsim evaluate {out}` "
                       "gives the physical accuracy, exact IR drop by default)")
