"""Train an expression model on the FER+ votes (or FER2013 labels), with checkpoints and resume.

Usage: fer-ros train run --out runs/ferplus [--config recipe.json] [--arch wide] [--seed 1] [--resume]

The same loop trains teachers (``run``) and distils students (``fer-ros train distill``): with ``teachers`` in
the recipe the targets mix the teachers' cached soft predictions (``fer-ros train predict``) with the votes.
Options for the rare classes: class-balanced sampling and a logit-adjusted loss; for robustness: camera
degradations (``fer_ros.evaluation.perturbations``), mixup and CutMix.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import random
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from fer_ros.evaluation.perturbations import DegradeConfig, random_degrade
from fer_ros.training.augment import AugmentConfig, augment, mix_batch
from fer_ros.training.data import TrainingSet, load_fer2013, load_ferplus
from fer_ros.training.model import FerResNet

DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data"

NO_DEGRADE = DegradeConfig(noise_prob=0, jpeg_prob=0, blur_prob=0, down_prob=0, light_prob=0)

# --arch presets: the shipped size, and larger networks for teachers
ARCHITECTURES: dict[str, tuple[tuple[int, ...], int]] = {
    "small": ((16, 32, 64, 128), 1),
    "wide": ((32, 64, 128, 256), 1),
    "large": ((32, 64, 128, 256), 2),
    "xlarge": ((48, 96, 192, 384), 2),
}


@dataclass
class Recipe:
    """Everything that decides a training run; written next to the result as recipe.json."""

    protocol: str = "ferplus"  # "ferplus" (8 classes, vote targets) or "fer2013" (7 classes)
    data_dir: str = str(DEFAULT_DATA_DIR)
    widths: tuple[int, ...] = (16, 32, 64, 128)
    blocks: int = 1
    dropout: float = 0.2
    epochs: int = 30
    batch_size: int = 128
    lr: float = 4e-3
    weight_decay: float = 0.05
    ema_decay: float = 0.998
    mean: float = 0.5
    std: float = 0.25
    seed: int = 0
    threads: int = 2
    # checkpoint (.pt) or exported float model (.onnx) whose weights start the run (a differing head is skipped)
    init_from: str | None = None
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    degrade: DegradeConfig = field(default_factory=lambda: NO_DEGRADE)
    mixup_alpha: float = 0.0  # > 0: mixup with Beta(alpha, alpha)
    cutmix_prob: float = 0.0  # share of the batches mixed by CutMix instead
    balance_power: float = 0.0  # sample images with weight prior(class) ** -power (0: uniform, 1: balanced)
    logit_adjust_tau: float = 0.0  # loss on logits + tau * log(prior) (Menon et al. 2021); inference unchanged
    teachers: tuple[str, ...] = ()  # cached teacher predictions (fer-ros train predict) for distillation
    teacher_weight: float = 0.7  # target = w * teachers' mean probabilities + (1 - w) * votes
    teacher_temperature: float = 1.0  # softmax temperature applied to the teachers' logits
    device: str = "auto"  # auto | cpu | cuda

    @classmethod
    def from_json(cls, text: str) -> Recipe:
        raw = json.loads(text)
        raw["augment"] = AugmentConfig(**raw.get("augment", {}))
        degrade = dict(raw.get("degrade", {}))
        if "light_range" in degrade:
            degrade["light_range"] = tuple(degrade["light_range"])
        raw["degrade"] = DegradeConfig(**degrade) if "degrade" in raw else cls().degrade
        raw["widths"] = tuple(raw.get("widths", cls.widths))
        raw["teachers"] = tuple(raw.get("teachers", ()))
        return cls(**raw)


# protocol -> (training npz, model-selection npz) in the data folder
SPLITS = {
    "ferplus": ("ferplus_train.npz", "ferplus_valid.npz"),
    "fer2013": ("fer2013_train.npz", "fer2013_publictest.npz"),
}


def load_sets(recipe: Recipe) -> tuple[TrainingSet, TrainingSet]:
    if recipe.protocol not in SPLITS:
        raise ValueError(f"unknown protocol {recipe.protocol!r}: use 'ferplus' or 'fer2013'")
    train_npz, valid_npz = (Path(recipe.data_dir) / name for name in SPLITS[recipe.protocol])
    if recipe.protocol == "ferplus":
        return load_ferplus(train_npz, drop_unlabelled=True), load_ferplus(valid_npz, drop_unlabelled=False)
    return load_fer2013(train_npz), load_fer2013(valid_npz)


def build_model(recipe: Recipe, num_classes: int) -> FerResNet:
    return FerResNet(num_classes, widths=recipe.widths, blocks=recipe.blocks, dropout=recipe.dropout)


def load_initial_weights(
    model: torch.nn.Module, checkpoint: str | Path, sample: torch.Tensor | None = None
) -> list[str]:
    """Copy the weights of ``checkpoint`` (a best.pt or last.pt) whose names and shapes match; returns those skipped.

    An exported float ``.onnx`` model is rebuilt instead (``fer_ros.training.from_onnx``; ``sample`` are
    normalised crops for its BatchNorm statistics).
    """
    if str(checkpoint).endswith(".onnx"):
        from fer_ros.training.from_onnx import load_onnx_weights

        if sample is None:
            raise ValueError("starting from an ONNX model needs sample crops for the BatchNorm statistics")
        return load_onnx_weights(model, checkpoint, sample)
    saved = torch.load(checkpoint, weights_only=False, map_location="cpu")
    weights = saved.get("ema", saved["model"])
    own = model.state_dict()
    matching = {k: v for k, v in weights.items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(matching, strict=False)
    return sorted(set(own) - set(matching))


def to_input(images: np.ndarray, recipe: Recipe) -> torch.Tensor:
    """uint8 (N, H, W) -> normalised float (N, 1, H, W) before augmentation ([0, 1])."""
    return torch.from_numpy(images).float().div_(255.0).unsqueeze(1)


@torch.no_grad()
def predict(model: torch.nn.Module, images: np.ndarray, recipe: Recipe, flip: bool = False) -> np.ndarray:
    """Class probabilities for uint8 crops, optionally averaged with the mirrored crops."""
    model.eval()
    out = []
    for start in range(0, len(images), 512):
        device = next(model.parameters()).device
        x = ((to_input(images[start : start + 512], recipe) - recipe.mean) / recipe.std).to(device)
        p = F.softmax(model(x), dim=1)
        if flip:
            p = (p + F.softmax(model(torch.flip(x, dims=[3])), dim=1)) / 2
        out.append(p.cpu().numpy())
    return np.concatenate(out)


def evaluate(model: torch.nn.Module, valid: TrainingSet, recipe: Recipe) -> dict[str, float]:
    """Accuracy and macro recall on the images with a hard label, with and without flip averaging."""
    mask = valid.labels >= 0
    labels = valid.labels[mask]
    result: dict[str, float] = {}
    for flip in (False, True):
        pred = predict(model, valid.images[mask], recipe, flip).argmax(axis=1)
        recalls = [float((pred[labels == c] == c).mean()) for c in np.unique(labels)]
        suffix = "_flip" if flip else ""
        result[f"accuracy{suffix}"] = float((pred == labels).mean())
        result[f"macro_recall{suffix}"] = float(np.mean(recalls))
    return result


def seed_everything(seed: int) -> torch.Generator:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def class_prior(train_set: TrainingSet) -> np.ndarray:
    """Mean target per class over the training set (the vote share for FER+)."""
    prior = train_set.targets.mean(axis=0).astype(np.float64)
    return np.maximum(prior, 1e-4) / np.maximum(prior, 1e-4).sum()


def load_teachers(recipe: Recipe, train_set: TrainingSet) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Mean teacher probabilities on the training images, without and with flipping (None without teachers)."""
    if not recipe.teachers:
        return None
    from fer_ros.training.predict import load_predictions

    plain, flipped = [], []
    for path in recipe.teachers:
        logits, logits_flip = load_predictions(Path(path), train_set)
        plain.append(F.softmax(torch.from_numpy(logits) / recipe.teacher_temperature, dim=1))
        flipped.append(F.softmax(torch.from_numpy(logits_flip) / recipe.teacher_temperature, dim=1))
    return torch.stack(plain).mean(0), torch.stack(flipped).mean(0)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda: PyTorch sees no CUDA device (install a CUDA build of torch)")
    return torch.device(name)


def train(recipe: Recipe, out_dir: Path, resume: bool) -> dict:
    """Run (or resume) a training; returns the summary also written to out_dir/summary.json."""
    torch.set_num_threads(recipe.threads)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "recipe.json").write_text(json.dumps(asdict(recipe), indent=2))
    gen = seed_everything(recipe.seed)
    np_rng = np.random.default_rng(recipe.seed)
    train_set, valid_set = load_sets(recipe)
    num_classes = len(train_set.class_names)
    device = resolve_device(recipe.device)
    model = build_model(recipe, num_classes)
    if recipe.init_from:
        sample_index = np.random.default_rng(recipe.seed).choice(
            len(train_set.images), min(2048, len(train_set.images)), replace=False
        )
        sample = (to_input(train_set.images[np.sort(sample_index)], recipe) - recipe.mean) / recipe.std
        skipped = load_initial_weights(model, recipe.init_from, sample)
        print(f"initialised from {recipe.init_from}; left at random: {', '.join(skipped) or 'nothing'}", flush=True)
    model = model.to(device)
    ema = copy.deepcopy(model).eval()
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    steps_per_epoch = math.ceil(len(train_set.images) / recipe.batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=recipe.lr, total_steps=recipe.epochs * steps_per_epoch, pct_start=0.15
    )
    state = {"epoch": 0, "best": -1.0, "history": []}
    checkpoint = out_dir / "last.pt"
    if resume and checkpoint.exists():
        saved = torch.load(checkpoint, weights_only=False, map_location=device)
        model.load_state_dict(saved["model"])
        ema.load_state_dict(saved["ema"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        gen.set_state(saved["generator"].cpu())
        if "numpy_generator" in saved:
            np_rng.bit_generator.state = saved["numpy_generator"]
        state = saved["state"]
        print(f"resumed from epoch {state['epoch']}", flush=True)

    prior = class_prior(train_set)
    log_prior = torch.from_numpy(np.log(prior)).float().to(device)
    labels = train_set.targets.argmax(axis=1)
    sample_weights = torch.from_numpy(prior[labels] ** -recipe.balance_power)
    teachers = load_teachers(recipe, train_set)
    targets = torch.from_numpy(train_set.targets)
    flip_in_loop = recipe.augment.flip
    geometry = AugmentConfig(**{**asdict(recipe.augment), "flip": False})
    for epoch in range(state["epoch"], recipe.epochs):
        model.train()
        if recipe.balance_power > 0:
            order = torch.multinomial(sample_weights, len(labels), replacement=True, generator=gen)
        else:
            order = torch.randperm(len(labels), generator=gen)
        started = time.time()
        total_loss = 0.0
        bar = tqdm(
            range(steps_per_epoch),
            desc=f"epoch {epoch + 1}/{recipe.epochs}",
            mininterval=20,
            file=sys.stdout,
            dynamic_ncols=False,
            ncols=100,
        )
        for step in bar:
            idx = order[step * recipe.batch_size : (step + 1) * recipe.batch_size]
            crops = train_set.images[idx.numpy()]
            if recipe.degrade.enabled:
                crops = random_degrade(crops, recipe.degrade, np_rng)
            x = to_input(crops, recipe)
            flip = (torch.rand(len(idx), generator=gen) < 0.5) if flip_in_loop else torch.zeros(len(idx), dtype=bool)
            x = torch.where(flip.view(-1, 1, 1, 1), torch.flip(x, dims=[3]), x)
            x = augment(x, geometry, gen)
            y = targets[idx]
            if teachers is not None:
                taught = torch.where(flip.view(-1, 1), teachers[1][idx], teachers[0][idx])
                y = recipe.teacher_weight * taught + (1 - recipe.teacher_weight) * y
            x, y = mix_batch(x, y, recipe.mixup_alpha, recipe.cutmix_prob, gen)
            logits = model(((x - recipe.mean) / recipe.std).to(device))
            if recipe.logit_adjust_tau:
                logits = logits + recipe.logit_adjust_tau * log_prior
            loss = -(y.to(device) * F.log_softmax(logits, dim=1)).sum(dim=1).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            with torch.no_grad():
                decay = min(
                    recipe.ema_decay,
                    (1 + step + epoch * steps_per_epoch) / (10 + step + epoch * steps_per_epoch),
                )
                for e, p in zip(ema.state_dict().values(), model.state_dict().values(), strict=True):
                    if e.dtype.is_floating_point:
                        e.mul_(decay).add_(p.detach(), alpha=1 - decay)
                    else:
                        e.copy_(p)
            total_loss += loss.item()
            bar.set_postfix(loss=f"{total_loss / (step + 1):.3f}", refresh=False)
        bar.close()
        metrics = evaluate(ema, valid_set, recipe)
        metrics.update(epoch=epoch + 1, loss=total_loss / steps_per_epoch, seconds=time.time() - started)
        state["history"].append(metrics)
        state["epoch"] = epoch + 1
        if metrics["accuracy"] > state["best"]:
            state["best"] = metrics["accuracy"]
            torch.save(
                {
                    "model": ema.state_dict(),
                    "recipe": asdict(recipe),
                    "metrics": metrics,
                    "class_names": train_set.class_names,
                },
                out_dir / "best.pt",
            )
        torch.save(
            {
                "model": model.state_dict(),
                "ema": ema.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "generator": gen.get_state(),
                "numpy_generator": np_rng.bit_generator.state,
                "state": state,
            },
            checkpoint.with_suffix(".tmp"),
        )
        checkpoint.with_suffix(".tmp").replace(checkpoint)
        remaining = (recipe.epochs - epoch - 1) * metrics["seconds"]
        print(
            f"epoch {epoch + 1}: loss {metrics['loss']:.4f} valid acc {metrics['accuracy']:.4f} "
            f"(flip {metrics['accuracy_flip']:.4f}) macro recall {metrics['macro_recall']:.4f} "
            f"best {state['best']:.4f} | {metrics['seconds']:.0f} s/epoch, ETA {remaining / 60:.0f} min",
            flush=True,
        )
    summary = {"best_accuracy": state["best"], "history": state["history"], "recipe": asdict(recipe)}
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def add_recipe_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by ``train run`` and ``train distill`` that override the recipe."""
    parser.add_argument("--out", type=Path, required=True, help="run folder (checkpoints, recipe, summary)")
    parser.add_argument("--config", type=Path, help="recipe JSON; unspecified keys keep their defaults")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/last.pt if present")
    parser.add_argument("--epochs", type=int, help="override the recipe's epoch count")
    parser.add_argument("--protocol", choices=("ferplus", "fer2013"), help="override the recipe's protocol")
    parser.add_argument(
        "--init-from", type=Path, help="start from this checkpoint's (.pt) or exported float model's (.onnx) weights"
    )
    parser.add_argument("--lr", type=float, help="override the recipe's peak learning rate")
    parser.add_argument("--arch", choices=tuple(ARCHITECTURES), help="network size (teachers: wide, large)")
    parser.add_argument("--seed", type=int, help="override the recipe's seed")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), help="where to train (default auto)")
    parser.add_argument("--threads", type=int, help="CPU threads for PyTorch")
    parser.add_argument("--data-dir", type=Path, help="folder of the FER npz files (default ../shared/data)")
    parser.add_argument(
        "--robust", action="store_true", help="camera degradations (noise, JPEG, blur, down-scaling, low light)"
    )
    parser.add_argument("--mixup", type=float, metavar="ALPHA", help="mixup with Beta(ALPHA, ALPHA)")
    parser.add_argument("--cutmix", type=float, metavar="P", help="share of batches mixed by CutMix")
    parser.add_argument("--balance-power", type=float, help="class-balanced sampling power (0..1)")
    parser.add_argument("--logit-adjust", type=float, metavar="TAU", help="logit-adjusted loss strength")


def recipe_from_args(args: argparse.Namespace) -> Recipe:
    recipe = Recipe.from_json(args.config.read_text()) if args.config else Recipe()
    overrides = {
        "epochs": args.epochs,
        "protocol": args.protocol,
        "init_from": str(args.init_from) if args.init_from else None,
        "lr": args.lr,
        "seed": args.seed,
        "device": args.device,
        "threads": args.threads,
        "mixup_alpha": args.mixup,
        "cutmix_prob": args.cutmix,
        "balance_power": args.balance_power,
        "logit_adjust_tau": args.logit_adjust,
        "data_dir": str(args.data_dir) if args.data_dir else None,
    }
    for key, value in overrides.items():
        if value is not None:
            setattr(recipe, key, value)
    if args.arch:
        recipe.widths, recipe.blocks = ARCHITECTURES[args.arch]
    if args.robust:
        recipe.degrade = DegradeConfig()
    return recipe


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_recipe_options(parser)
    args = parser.parse_args(argv)
    train(recipe_from_args(args), args.out, args.resume)
    return 0


if __name__ == "__main__":
    sys.exit(main())
