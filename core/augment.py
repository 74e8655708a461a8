"""Per-sample augmentation for the CNN: each training image gets its own random rotation, shift and zoom.

One affine map per image, drawn from a seeded generator, applied with F.affine_grid / F.grid_sample
(bilinear, zero fill). The ranges come from the training config (core.cnn_train.CNNConfig).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from core.inference import to_model_input


@dataclass(frozen=True)
class AffineRanges:
    """How far each image may be moved (the training config carries one, as CNNConfig.affine)."""

    rotate: float = 20.0  # max |rotation| in degrees
    translate: float = 0.1  # max shift per axis, as a fraction of the image side
    scale_min: float = 0.9  # smallest zoom factor
    scale_max: float = 1.1  # largest zoom factor


def affine_matrices(n: int, cfg: AffineRanges, gen: torch.Generator) -> torch.Tensor:
    """Per-sample inverse affine maps for F.affine_grid: (n,2,3), output coords -> input coords.

    The forward map is p_out = s·R(θ)·p_in + t (normalized coords in [-1,1]); its inverse is
    p_in = A·p_out - A·t with A = R(-θ)/s.
    """
    u = torch.rand(n, 4, generator=gen, dtype=torch.float64)  # (n,4) uniform [0,1)
    theta = (2 * u[:, 0] - 1) * math.radians(cfg.rotate)  # (n,)
    s = cfg.scale_min + (cfg.scale_max - cfg.scale_min) * u[:, 1]  # (n,)
    t = (2 * u[:, 2:] - 1) * (2 * cfg.translate)  # (n,2): a fraction f of the side is 2f in [-1,1] units
    c, sn = torch.cos(theta) / s, torch.sin(theta) / s
    A = torch.stack([torch.stack([c, sn], 1), torch.stack([-sn, c], 1)], 1)  # (n,2,2) = R(-θ)/s
    b = -(A @ t[:, :, None])  # (n,2,1)
    return torch.cat([A, b], 2).float()  # (n,2,3)


def augment(x: torch.Tensor, cfg: AffineRanges, gen: torch.Generator) -> torch.Tensor:
    """Randomly rotate, shift and zoom each image on its own. (N,1,28,28) -> (N,1,28,28), bilinear, zero fill."""
    theta = affine_matrices(len(x), cfg, gen).to(x.device)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)  # (N,28,28,2)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def augmentation_preview(images: np.ndarray, variants: int = 8, seed: int = 0,
                         cfg: AffineRanges = AffineRanges()) -> np.ndarray:
    """(N,28,28) uint8 -> (N,variants,28,28) float32 in [0,1]: what the trainer feeds the network."""
    x = torch.from_numpy(to_model_input(images))  # (N,1,28,28)
    gen = torch.Generator().manual_seed(seed)
    reps = x.repeat_interleave(variants, 0)  # (N·variants,1,28,28)
    out = augment(reps, cfg, gen).clamp_(0, 1)
    return out.reshape(len(images), variants, 28, 28).numpy()
