"""Phase 4's networks: the CNN architectures, their saved files, and what a trained network shows.

Three architectures (`ARCHS`): `seed` (the seed project's network, kept as the baseline), `default`
(ours: BatchNorm after each convolution, a third cheap conv stage at 7x7 and a head a quarter the size,
so it is more accurate, smaller and faster) and `fast` (the live speedrun's: built for time to 99 % on a
small CPU, preset `fast` in core.cnn_train). A network takes (N,1,28,28) float32 in [0,1], white ink on
black; nothing is normalized outside it. To change an architecture, edit `build_model` (and ARCHS).
Saved files hold only tensors and plain values and are read with `torch.load(weights_only=True)`.
How a network is trained lives in core.cnn_train, its augmentation in core.augment.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core.errors import UserError, first_line
from core.storage import atomic_write_bytes

ARCHS = ("seed", "default", "fast")
CHECKPOINT_FORMAT = "digit-inference-engine/cnn-checkpoint"
MODEL_FORMAT = "digit-inference-engine/cnn-model"
CHECKPOINT_NAME, MODEL_NAME = "checkpoint.pt", "model.pt"
FIRST_CONV = "features.0.weight"  # the first layer's filters in every architecture's state_dict


# --- the networks ----------------------------------------------------------------------------------


class CNN(nn.Module):
    """[centre crop] -> features (conv-ReLU-maxpool stages) -> flatten -> classifier. (N,1,28,28) in [0,1] -> (N,10).

    `crop` pixels are cut from every side first, inside the network, so every architecture reads the same 28x28."""

    def __init__(self, arch: str, features: nn.Sequential, classifier: nn.Sequential, crop: int = 0):
        super().__init__()
        self.arch = arch
        self.crop = crop
        self.features = features
        self.classifier = classifier

    def cropped(self, x: torch.Tensor) -> torch.Tensor:
        c = self.crop
        return x[:, :, c : x.shape[2] - c, c : x.shape[3] - c] if c else x  # (N,1,28,28) -> (N,1,28-2c,28-2c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(self.cropped(x))  # (N,C,H,W): (N,32,7,7) seed, (N,96,3,3) default, (N,64,4,4) fast
        return self.classifier(torch.flatten(h, 1))  # (N,C·H·W) -> (N,10)


def _conv_bn(c_in: int, c_out: int) -> list[nn.Module]:
    """3x3 'same' convolution (no bias: BatchNorm's shift replaces it), BatchNorm, ReLU."""
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]


def build_model(arch: str, classes: int = 10) -> CNN:
    """A freshly initialized network with `classes` outputs (10 digits, or 11 with "not a digit"); torch's global
    RNG draws the initial weights."""
    if classes not in (10, 11):
        raise UserError(f"a network has 10 or 11 outputs, not {classes}")
    if arch == "seed":
        # The seed's network, layer for layer (module names match its published ONNX).
        features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (N,16,14,14)
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (N,32,7,7)
        )
        classifier = nn.Sequential(nn.Linear(32 * 7 * 7, 128), nn.ReLU(), nn.Dropout(0.3), nn.Linear(128, classes))
    elif arch == "default":
        # Two conv stages underfit the augmented data (core/assets/README.md, "Why three stages"), so a third
        # conv+maxpool stage works at 7x7, where convolutions are cheap; the head then reads 96·3·3 = 864
        # features instead of 1568. BatchNorm makes the input scale irrelevant (no normalization layer) and is
        # folded into the convolutions at export.
        features = nn.Sequential(
            *_conv_bn(1, 16), nn.MaxPool2d(2),  # (N,16,14,14)
            *_conv_bn(16, 32), nn.MaxPool2d(2),  # (N,32,7,7)
            *_conv_bn(32, 96), nn.MaxPool2d(2),  # (N,96,3,3)
        )
        classifier = nn.Sequential(nn.Linear(96 * 3 * 3, 64), nn.ReLU(), nn.Dropout(0.1), nn.Linear(64, classes))
    elif arch == "fast":
        # Time to accuracy on a small CPU (README, "Training speedrun"; measured, not guessed): the centre 24x24
        # only (MNIST's digits sit in the central 20x20 box; a third fewer pixels), 'valid' convolutions, and
        # each stage pools *before* BatchNorm+ReLU, so both touch a quarter of the elements (~35 % faster steps
        # than conv-BN-ReLU-pool, 1 thread). No dropout: 5 epochs do not overfit.
        features = nn.Sequential(
            nn.Conv2d(1, 32, 5, bias=False), nn.MaxPool2d(2), nn.BatchNorm2d(32), nn.ReLU(),  # (N,32,20,20) -> 10x10
            nn.Conv2d(32, 64, 3, bias=False), nn.MaxPool2d(2), nn.BatchNorm2d(64), nn.ReLU(),  # (N,64,8,8) -> 4x4
        )
        classifier = nn.Sequential(nn.Linear(64 * 4 * 4, 128), nn.ReLU(), nn.Linear(128, classes))
        return CNN(arch, features, classifier, crop=2)
    else:
        raise UserError(f"unknown architecture {arch!r}; choose from {', '.join(ARCHS)}")
    return CNN(arch, features, classifier)


def num_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def state_to_numpy(model: nn.Module) -> dict[str, np.ndarray]:
    """A detached NumPy copy of every parameter and buffer (BatchNorm statistics included)."""
    return {k: v.detach().cpu().numpy().copy() for k, v in model.state_dict().items()}


def classes_of(state: dict) -> int:
    """How many outputs the network whose state_dict this is has (its last linear layer's rows)."""
    last = max((k for k in state if k.startswith("classifier.") and k.endswith(".weight")),
               key=lambda k: int(k.split(".")[1]), default=None)
    return int(state[last].shape[0]) if last is not None and len(state[last].shape) == 2 else 10


def model_from_numpy(arch: str, state: dict[str, np.ndarray]) -> CNN:
    """Rebuild a network from a Snapshot's arrays, in eval mode."""
    model = build_model(arch, classes_of(state))
    load_state(model, {k: torch.from_numpy(np.asarray(v)) for k, v in state.items()}, f"{arch} weights")
    return model.eval()


def load_state(model: CNN, state: dict, where: str) -> None:
    """load_state_dict, turning a mismatch into a one-line UserError."""
    try:
        model.load_state_dict(state)
    except (RuntimeError, KeyError, TypeError) as e:
        raise UserError(f"{where} do not fit the '{model.arch}' architecture ({first_line(e, 160)})") from None



# --- using a network ------------------------------------------------------------------------------


def to_input(images: np.ndarray | torch.Tensor, device: torch.device | str = "cpu") -> torch.Tensor:
    """(N,28,28) uint8 -> (N,1,28,28) float32 in [0,1] on `device`."""
    x = torch.as_tensor(images).to(device)
    return (x.float() / 255.0)[:, None]


@torch.no_grad()
def evaluate(model: nn.Module, images: np.ndarray | torch.Tensor, labels: np.ndarray | torch.Tensor,
             chunk: int = 1000) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of `model` on uint8 images (N,28,28), in eval mode."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    y = torch.as_tensor(labels).long().to(device)
    loss_sum, correct = 0.0, 0
    for i in range(0, len(y), chunk):
        z = model(to_input(images[i : i + chunk], device))  # (b,10)
        loss_sum += float(F.cross_entropy(z, y[i : i + chunk], reduction="sum"))
        correct += int((z.argmax(1) == y[i : i + chunk]).sum())
    model.train(was_training)
    return loss_sum / len(y), correct / len(y)


@torch.no_grad()
def predict_logits(model: nn.Module, images: np.ndarray, chunk: int = 1000) -> np.ndarray:
    """(N,28,28) uint8 -> (N,K) float32 logits (K = 10, or 11 with "not a digit"), in eval mode."""
    model.eval()
    device = next(model.parameters()).device
    k = model.classifier[-1].out_features
    return np.concatenate([model(to_input(images[i : i + chunk], device)).cpu().numpy()
                           for i in range(0, len(images), chunk)] or [np.zeros((0, k), np.float32)])


@torch.no_grad()
def feature_maps(model: CNN, image: np.ndarray) -> dict[str, np.ndarray]:
    """Activations of one image per stage: {'conv1': (C1,28,28), 'pool1': (C1,14,14), 'conv2': ..., 'pool2', ...}.

    `image` is (28,28) uint8, or float in [0,1]. 'convK' is after the ReLU (and BatchNorm, if any). A stage that
    pools before BatchNorm+ReLU (`fast`) shows 'convK' with its BatchNorm and ReLU applied at full size, and
    'poolK' after them.
    """
    img = np.asarray(image)
    x = torch.from_numpy(img.astype(np.float32) / (255.0 if img.dtype == np.uint8 else 1.0))[None, None]
    model.eval()
    x = model.cropped(x.to(next(model.parameters()).device))
    out, stage, pooled = {}, 0, False
    layers = list(model.features)
    for i, layer in enumerate(layers):
        x = layer(x)
        if isinstance(layer, nn.Conv2d):
            stage, pooled = stage + 1, False
            nxt = layers[i + 1 : i + 4]
            if [type(m) for m in nxt] == [nn.MaxPool2d, nn.BatchNorm2d, nn.ReLU]:  # pools first: show the full map
                out[f"conv{stage}"] = nxt[2](nxt[1](x))[0].cpu().numpy().copy()
        elif isinstance(layer, nn.MaxPool2d):
            pooled = True
            out[f"pool{stage}"] = x[0].cpu().numpy().copy()
        elif isinstance(layer, nn.ReLU):  # after a pool, its ReLU'd output replaces it
            out[f"{'pool' if pooled else 'conv'}{stage}"] = x[0].cpu().numpy().copy()
    return out



# --- saved networks ---------------------------------------------------------------------------------


def torch_bytes(obj: dict) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def torch_load(path: Path, what: str, device: torch.device | str = "cpu") -> dict:
    """torch.load with weights_only=True (no code runs), or a one-line UserError."""
    try:
        obj = torch.load(io.BytesIO(Path(path).read_bytes()), map_location=device, weights_only=True)
    except FileNotFoundError:
        raise UserError(f"{what} not found: {path}") from None
    except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError, zipfile.BadZipFile) as e:
        raise UserError(f"{path} is not a readable {what} ({type(e).__name__}); delete it to start over") from None
    if not isinstance(obj, dict):
        raise UserError(f"{path} is not a {what} of this project")
    return obj


def check_arch(obj: dict, path: Path, fmt: str, what: str, arch: str | None) -> str:
    if obj.get("format") != fmt or obj.get("arch") not in ARCHS or "model" not in obj:
        raise UserError(f"{path} is not a {what} of this project")
    if arch is not None and obj["arch"] != arch:
        raise UserError(f"{path} holds a '{obj['arch']}' network, not '{arch}'; use another --out folder")
    return obj["arch"]


def save_model(path: Path, model: CNN, cfg) -> Path:
    """Write the trained weights (state_dict, architecture, training config) atomically."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return atomic_write_bytes(path, torch_bytes({"format": MODEL_FORMAT, "arch": model.arch,
                                                  "config": asdict(cfg), "model": state}))


def load_model(path: Path, arch: str | None = None) -> tuple[CNN, dict]:
    """(network in eval mode, its training config as a dict) from a model.pt, a checkpoint.pt or a run folder."""
    path = Path(path)
    if path.is_dir():
        path = path / MODEL_NAME if (path / MODEL_NAME).exists() else path / CHECKPOINT_NAME
        if not path.exists():
            raise UserError(f"{path.parent} holds neither {MODEL_NAME} nor {CHECKPOINT_NAME}: not a CNN run folder")
    obj = torch_load(path, "CNN model")
    fmt = CHECKPOINT_FORMAT if obj.get("format") == CHECKPOINT_FORMAT else MODEL_FORMAT
    arch = check_arch(obj, path, fmt, "CNN model or checkpoint", arch)
    model = build_model(arch, classes_of(obj["model"]) if isinstance(obj["model"], dict) else 10)
    load_state(model, obj["model"], f"weights in {path}")
    return model.eval(), dict(obj.get("config") or {})
