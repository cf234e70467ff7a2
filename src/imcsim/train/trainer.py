"""The training loop: float pre-training, then mixed-precision (hardware-aware) fine-tuning; checkpoints and resume.

Phases: ``pretrain_epochs`` of float training (skipped when 0: mixed precision from scratch), then ``epochs`` with the
model converted to ``target`` (:func:`imcsim.nn.convert.convert`; ``target = "float"`` trains the float model only).
Each phase has its own optimizer (AdamW or SGD with momentum) and learning-rate schedule (cosine, step or constant,
stepped once per epoch). With ``noise_aware`` the IMAC layers draw a fresh chip (device variation, stuck-at faults,
read noise, ADC instances, as configured in ``imac``) for every batch.

Determinism: the model is initialised under ``torch.manual_seed(seed)``, the data order comes from a torch
Generator seeded with ``seed``, the noise-aware draws from a numpy Generator seeded with ``seed``, and
``torch.use_deterministic_algorithms`` is on while training. A checkpoint (``checkpoint.pt``) is written atomically
after every epoch with the model, optimizer, scheduler and every random stream's state, so ``resume`` continues to
exactly the result of an uninterrupted run. At the end the run directory also holds the deployment
(:mod:`imcsim.train.deploy`) and ``metrics.json``.
"""

from __future__ import annotations

import io
import json
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from imcsim.config.base import parse_config
from imcsim.errors import CheckpointError, ConfigError, ModelError
from imcsim.nn.convert import HybridModel, clip_latent_
from imcsim.train.config import TrainConfig, build_run_model, run_network
from imcsim.train.data import Dataset, load_dataset
from imcsim.train.deploy import export_deployment, save_deployment, write_bytes_atomic

__all__ = ["TrainConfig", "TrainResult", "train", "evaluate_accuracy", "CHECKPOINT", "METRICS"]

CHECKPOINT = "checkpoint.pt"
METRICS = "metrics.json"


@dataclass
class TrainResult:
    """A finished run: the trained model, per-epoch history and the run directory."""

    model: torch.nn.Module
    history: list[dict]
    out_dir: Path | None
    config: TrainConfig

    @property
    def test_accuracy(self) -> float:
        return float(self.history[-1]["test_accuracy"]) if self.history else float("nan")


def _optimizer(cfg: TrainConfig, params, lr: float) -> torch.optim.Optimizer:
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(params, lr=lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def _scheduler(cfg: TrainConfig, opt: torch.optim.Optimizer, epochs: int):
    if cfg.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(epochs, 1))
    if cfg.schedule == "step":
        return torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[max(1, epochs // 2), max(1, 3 * epochs // 4)],
                                                    gamma=0.1)
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)


@torch.no_grad()
def evaluate_accuracy(model: torch.nn.Module, x: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor,
                      batch_size: int = 1000) -> float:
    """Top-1 accuracy (fraction) of ``model`` in eval mode; an IMAC model runs its ideal chip."""
    was = model.training
    model.eval()
    if isinstance(model, HybridModel):
        model.set_chip(None)
    xt, yt = torch.as_tensor(x), torch.as_tensor(y)
    correct = 0
    for i in range(0, len(xt), batch_size):
        correct += int((model(xt[i:i + batch_size]).argmax(1) == yt[i:i + batch_size]).sum())
    model.train(was)
    return correct / max(len(xt), 1)


def _progress(enabled: bool):
    if not enabled:
        return None
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                    TimeRemainingColumn(), transient=True)


def _save_checkpoint(path: Path, state: dict) -> None:
    buf = io.BytesIO()
    torch.save(state, buf)
    write_bytes_atomic(path, buf.getvalue())


def _load_checkpoint(path: Path) -> dict:
    if not path.is_file():
        raise CheckpointError(f"{path}: no checkpoint to resume from")
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # corrupt or foreign file
        raise CheckpointError(f"{path}: cannot load checkpoint ({type(exc).__name__})") from None
    for key in ("config", "epoch", "model", "optimizer", "scheduler", "data_gen", "history"):
        if not isinstance(state, dict) or key not in state:
            raise CheckpointError(f"{path}: missing '{key}'")
    return state


def train(cfg: TrainConfig, out_dir: str | Path | None = None, resume: bool = False, progress: bool | None = None,
          data: Dataset | None = None, log: Callable[[str], Any] | None = None,
          stop_after: int | None = None) -> TrainResult:
    """Run (or resume) the training described by ``cfg``; write checkpoints and the deployment to ``out_dir``.

    Args:
        cfg: the run's settings.
        out_dir: run directory (None: no files are written and ``resume`` is impossible).
        resume: continue from ``out_dir/checkpoint.pt``; its config must equal ``cfg`` except for ``epochs``.
        progress: show a rich progress bar (default: when stderr is a terminal).
        data: a preloaded dataset (default: :func:`load_dataset` of ``cfg.dataset`` / ``cfg.data_dir``).
        log: called with one line per epoch (default: silent).
        stop_after: stop (as if interrupted) once this many epochs of the run are done, after their checkpoint;
            no deployment is written then.
    """
    out = Path(out_dir) if out_dir is not None else None
    if progress is None:
        progress = sys.stderr.isatty()
    ds = data if data is not None else load_dataset(cfg.dataset, cfg.data_dir)
    ds = ds.subset(cfg.train_limit, cfg.test_limit)
    check_model_fits(cfg, ds)
    xtr, ytr = torch.from_numpy(ds.x_train), torch.from_numpy(ds.y_train)
    xte, yte = ds.x_test, ds.y_test

    phases = cfg.phases()
    total = sum(e for _, e in phases)
    state = None
    if resume:
        if out is None:
            raise CheckpointError("resume needs a run directory")
        state = _load_checkpoint(out / CHECKPOINT)
        try:
            stored = parse_config(TrainConfig, state["config"], source=f"{out / CHECKPOINT} config")
        except ConfigError as exc:
            raise CheckpointError(str(exc)) from None
        for name in TrainConfig.model_fields:
            if name != "epochs" and getattr(stored, name) != getattr(cfg, name):
                raise CheckpointError(f"{out / CHECKPOINT}: run was started with {name} = "
                                      f"{getattr(stored, name)!r}, not {getattr(cfg, name)!r}")

    det = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        return _run(cfg, out, state, phases, total, ds, xtr, ytr, xte, yte, progress, log, stop_after)
    finally:
        torch.use_deterministic_algorithms(det)


def check_model_fits(cfg: TrainConfig, ds: Dataset) -> None:
    """ModelError unless ``cfg``'s model maps one of ``ds``'s inputs to ``ds.num_classes`` scores (a model from a
    file is built as written, so its input size and class count must fit the dataset)."""
    from imcsim.workload.resolve import load_module, workload_kind

    if cfg.input_shape is not None and tuple(cfg.input_shape) != ds.input_shape:
        raise ModelError(f"model '{cfg.model}' is meant for inputs of shape {tuple(cfg.input_shape)}; dataset "
                         f"'{ds.name}' has {ds.input_shape}")
    if workload_kind(cfg.model) == "zoo":
        return  # zoo models are built for the dataset's class count; their layers adapt to its input below
    model = load_module(cfg.model, cfg.model_args)
    shape = (1, *ds.input_shape)
    try:
        model.eval()
        with torch.no_grad():
            out = model(torch.zeros(shape))
    except Exception as exc:
        raise ModelError(f"model '{cfg.model}' does not take dataset '{ds.name}' inputs of shape {shape} "
                         f"({str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__})") \
            from None
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (1, ds.num_classes):
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ModelError(f"model '{cfg.model}' gives {got} on dataset '{ds.name}' inputs of shape {shape}; training "
                         f"needs (1, {ds.num_classes}) class scores (set its class count with model_args)")


def _phase_at(phases: list[tuple[str, int]], epoch: int) -> tuple[int, str, int, int]:
    """(phase index, name, first epoch, epochs) of the phase holding global epoch ``epoch``."""
    start = 0
    for i, (name, n) in enumerate(phases):
        if epoch < start + n:
            return i, name, start, n
        start += n
    i = len(phases) - 1
    return i, phases[i][0], start - phases[i][1], phases[i][1]


def _build_phase_model(cfg: TrainConfig, name: str, num_classes: int, float_model: torch.nn.Module | None,
                       calib: torch.Tensor) -> torch.nn.Module:
    """The model of phase ``name``: the float model, or the float model (pre-trained or fresh) converted."""
    if name == "float":
        return build_run_model(cfg, num_classes, converted=False)
    if float_model is None and cfg.init_from:
        float_model = _load_float(cfg, num_classes)
    if float_model is None:
        model = build_run_model(cfg, num_classes, converted=True)
    else:
        from imcsim.nn.convert import convert

        model = convert(float_model, cfg.target, cfg.imac, conv_bits=cfg.conv_bits, act_bits=cfg.act_bits,
                        precision=cfg.precision, nonideal=cfg.nonidealities(), noise_seed=cfg.seed,
                        train_transimpedance=cfg.train_transimpedance)
    if isinstance(model, HybridModel):
        with torch.no_grad():
            model.train()
            model.frontend(calib)  # initialise the activation quantizer ranges before calibrating the analog gains
        model.calibrate_(calib)
    return model


def _load_float(cfg: TrainConfig, num_classes: int) -> torch.nn.Module:
    """The trained float model of run directory ``cfg.init_from``."""
    path = Path(cfg.init_from) / "model.pt"
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file (init_from must be a finished float run)")
    model = build_run_model(cfg, num_classes, converted=False)
    try:
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    except Exception as exc:  # a corrupt file or another model's weights
        raise CheckpointError(f"{path}: not a float '{cfg.model}' model ({type(exc).__name__})") from None
    return model


def _run(cfg, out, state, phases, total, ds, xtr, ytr, xte, yte, progress, log, stop_after) -> TrainResult:
    num_classes = ds.num_classes
    calib = xtr[: cfg.batch_size]
    history: list[dict] = []
    data_gen = torch.Generator()
    data_gen.manual_seed(cfg.seed)
    epoch = 0
    model = opt = sched = None
    phase_idx = -1
    if state is not None:
        epoch = int(state["epoch"])
        history = list(state["history"])
        phase_idx, name, _, n = _phase_at(phases, max(epoch - 1, 0))
        model = _build_phase_model(cfg, name, num_classes, None, calib) if name == "float" else \
            build_run_model(cfg, num_classes, converted=True)
        try:
            model.load_state_dict(state["model"])
        except RuntimeError as exc:
            raise CheckpointError(f"{out / CHECKPOINT}: model state does not fit ({str(exc).splitlines()[0]})") \
                from None
        opt = _optimizer(cfg, [p for p in model.parameters() if p.requires_grad],
                         cfg.pretrain_lr if name == "float" and cfg.target != "float" else cfg.lr)
        opt.load_state_dict(state["optimizer"])
        sched = _scheduler(cfg, opt, n)
        sched.load_state_dict(state["scheduler"])
        data_gen.set_state(state["data_gen"])
        torch.set_rng_state(state["torch_rng"])
        if isinstance(model, HybridModel) and state.get("noise_rng") is not None:
            model.noise_rng.bit_generator.state = state["noise_rng"]
    bar = _progress(progress)
    with bar if bar is not None else nullcontext():
        while epoch < total:
            idx, name, start, n = _phase_at(phases, epoch)
            if idx != phase_idx:  # entering a new phase: (re)build the model, optimizer and schedule
                float_model = model if (model is not None and not isinstance(model, HybridModel)) else None
                model = _build_phase_model(cfg, name, num_classes, float_model, calib)
                if isinstance(model, HybridModel):
                    model.noise_aware = cfg.noise_aware
                lr = cfg.pretrain_lr if name == "float" and cfg.target != "float" else cfg.lr
                opt = _optimizer(cfg, [p for p in model.parameters() if p.requires_grad], lr)
                sched = _scheduler(cfg, opt, n)
                phase_idx = idx
            if isinstance(model, HybridModel):
                model.noise_aware = cfg.noise_aware
            t0 = time.perf_counter()
            model.train()
            perm = torch.randperm(len(xtr), generator=data_gen)
            n_batches = (len(xtr) + cfg.batch_size - 1) // cfg.batch_size
            task = bar.add_task(f"epoch {epoch + 1}/{total} ({name})", total=n_batches) if bar else None
            loss_sum, seen = 0.0, 0
            for b in range(n_batches):
                sel = perm[b * cfg.batch_size:(b + 1) * cfg.batch_size]
                xb, yb = xtr[sel], ytr[sel]
                loss = F.cross_entropy(model(xb), yb)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                clip_latent_(model)
                loss_sum += loss.item() * len(sel)
                seen += len(sel)
                if bar is not None:
                    bar.advance(task)
            sched.step()
            train_s = time.perf_counter() - t0
            if bar is not None:
                bar.remove_task(task)
            acc = evaluate_accuracy(model, xte, yte)
            epoch += 1
            rec = {"epoch": epoch, "phase": name, "train_loss": loss_sum / max(seen, 1), "test_accuracy": acc,
                   "epoch_seconds": train_s, "lr": opt.param_groups[0]["lr"]}
            history.append(rec)
            if log is not None:
                log(f"epoch {epoch}/{total} [{name}] loss {rec['train_loss']:.4f} test accuracy {acc * 100:.2f}% "
                    f"({train_s:.1f} s)")
            if out is not None:
                _save_checkpoint(out / CHECKPOINT, {
                    "config": cfg.model_dump(mode="json"), "epoch": epoch, "model": model.state_dict(),
                    "optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "data_gen": data_gen.get_state(),
                    "torch_rng": torch.get_rng_state(), "history": history,
                    "noise_rng": model.noise_rng.bit_generator.state if isinstance(model, HybridModel) else None})
            if stop_after is not None and epoch >= stop_after and epoch < total:
                return TrainResult(model, history, out, cfg)
    if model is None:
        raise ModelError("nothing to train: epochs and pretrain_epochs are both 0")
    if out is not None:
        dep = export_deployment(model, cfg, num_classes, ds.input_shape,
                                {"test_accuracy": history[-1]["test_accuracy"] if history else None,
                                 "epochs": len(history)}, run_network(cfg, num_classes, ds.input_shape))
        save_deployment(dep, out)
        write_bytes_atomic(out / METRICS, (json.dumps({"history": history}, indent=1) + "\n").encode())
    return TrainResult(model, history, out, cfg)
