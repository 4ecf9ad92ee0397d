"""Scoring: the model's forward pass over windows cut from an in-memory region.

Every mode scores the same way: the region goes to the model's device once, the
model-size windows are cut there as ``torch.Tensor.unfold`` views (no per-window copy is
ever written), and they are scored in batches, as float64 probabilities (from the logits
when the model gives them), optionally averaged over the 8 flips and 90-degree rotations.
Grid and positions chunks (:mod:`lensscan.scan.chunks`) and detect-mode chunks
(:mod:`lensscan.scan.detections`) call :func:`forward_windows` on their staged regions.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lensscan.scan.model_cache import Scorer


def _batch_scores(scorer: Scorer, batch: Any, tta: bool) -> tuple[Any, Any]:
    """Float64 lens probabilities of one batch, and their spread.

    Probabilities come from the logits when the model gives them (a float32 sigmoid ties
    every logit above about 17 at 1.0). With ``tta`` the score is the mean over the 8
    flips and 90-degree rotations, and the spread their standard deviation; without it,
    for an ensemble the spread is the standard deviation of the members' probabilities
    (the score is the sigmoid of their mean logit, as always), else NaN.
    """
    import torch

    def probabilities(images: Any) -> Any:
        logits = getattr(scorer, "logits_tensor", None)
        if logits is not None:
            return torch.sigmoid(logits(images).double())
        return scorer.score_tensor(images).double()

    if not tta:
        if getattr(scorer, "members", 1) > 1:
            logits = scorer.member_logits_tensor(batch).double()
            return torch.sigmoid(logits.mean(dim=0)), torch.sigmoid(logits).std(dim=0)
        scores = probabilities(batch)
        return scores, torch.full_like(scores, float("nan"))
    members = torch.stack(
        [
            probabilities(torch.rot90(flipped, k, dims=(2, 3)).contiguous())
            for flipped in (batch, torch.flip(batch, dims=(3,)))
            for k in range(4)
        ]
    )
    return members.mean(dim=0), members.std(dim=0)


def forward_windows(
    scorer: Scorer,
    image: np.ndarray,
    starts_y: np.ndarray,
    starts_x: np.ndarray,
    batch_size: int,
    tta: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Score windows cut from an in-memory region, in batches.

    The region goes to the model's device once (pinned memory on CUDA); windows are cut
    there by indexing an ``unfold`` view, so each batch is one gather and nothing else is
    copied.

    Args:
        scorer: The model.
        image: (C, h, w) float32 region, NaN where there is no data and never infinite
            (the work store's tiles hold none).
        starts_y: Window row starts in the region.
        starts_x: Window column starts, paired with ``starts_y``.
        batch_size: Windows per forward pass.
        tta: Average over the 8 flips and 90-degree rotations of each window.

    Returns:
        ``(scores, spread)``: (N,) float64 probabilities and their TTA spread (NaN
        without TTA).
    """
    import torch

    if len(starts_y) == 0:
        return np.zeros(0, np.float64), np.zeros(0, np.float64)
    device = scorer.device
    size = scorer.input_size
    with torch.inference_mode():
        tile = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))
        if device.type == "cuda":
            tile = tile.pin_memory().to(device, non_blocking=True)
        else:
            tile = tile.to(device)
        # (h-size+1, w-size+1, C, size, size): indexing the first two axes gathers a batch
        # straight into (N, C, size, size), one copy.
        views = tile.unfold(1, size, 1).unfold(2, size, 1).permute(1, 2, 0, 3, 4)
        ys = torch.as_tensor(starts_y, dtype=torch.long).to(device)
        xs = torch.as_tensor(starts_x, dtype=torch.long).to(device)
        results = [
            _batch_scores(scorer, views[ys[i : i + batch_size], xs[i : i + batch_size]], tta)
            for i in range(0, len(ys), batch_size)
        ]
        # One device-to-host copy per chunk keeps the GPU queue full between batches.
        scores = torch.cat([r[0] for r in results]).cpu().numpy()
        spread = torch.cat([r[1] for r in results]).cpu().numpy()
        return scores, spread
