"""Training and inference throughput (images/s) of every registered encoder.

Usage::

    python benchmarks/train_throughput.py [--threads 2] [--size 64] [--device cpu] [--seconds 5]

A training step is the supervised method's step on the shared loop's gradient code (weak
augmentation, forward, class-weighted BCE, backward, AdamW); inference is
``LensFinder.score_tensor`` (normalisation + forward, no gradients).
"""

from __future__ import annotations

import argparse
import time

import torch

from lensscan.adapt import Batch, MethodContext, build_method
from lensscan.data.normalize import DEFAULT_NORMALISATION
from lensscan.models import ENCODERS, LensFinder, ModelCard, build_network, select_device
from lensscan.training.step import Precision, apply_gradients


def _rate(step, images_per_step: int, seconds: float, device: torch.device) -> float:
    step()  # warm-up (allocations, kernel selection)
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    done = 0
    while time.perf_counter() - start < seconds or done < 2:
        step()
        done += 1
        if device.type == "cuda":
            torch.cuda.synchronize()
    return done * images_per_step / (time.perf_counter() - start)


def measure(
    encoder: str, size: int, batch: int, seconds: float, device: torch.device
) -> tuple[float, float]:
    torch.manual_seed(0)
    network = build_network(encoder, 3).to(device)
    generator = torch.Generator(device=device).manual_seed(0)
    context = MethodContext(
        network=network,
        pos_weight=1.0,
        lr=1e-3,
        weight_decay=1e-4,
        epochs=1,
        steps_per_epoch=1,
        generator=generator,
    )
    method = build_method("supervised", context)
    precision = Precision(device, enabled=True)
    images = torch.randn(batch, 3, size, size, device=device)
    labels = (torch.arange(batch, device=device) % 2).float()

    def train_step() -> None:
        with precision.autocast():
            losses = method.losses(Batch(images, labels), 0)
        apply_gradients(losses, method.loss_groups(0), method.optimizers(), precision.scaler)

    method.train()
    train_rate = _rate(train_step, batch, seconds, device)
    card = ModelCard(
        name="bench",
        encoder=encoder,
        method="supervised",
        bands=("g", "r", "i"),
        pixel_scale=0.168,
        input_size=size,
        normalisation=DEFAULT_NORMALISATION.to_dict(),
    )
    finder = LensFinder(network, card, device)
    infer_images = torch.randn(4 * batch, 3, size, size, device=device)
    infer_rate = _rate(lambda: finder.score_tensor(infer_images), 4 * batch, seconds, device)
    return train_rate, infer_rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--encoders", default=",".join(ENCODERS))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = select_device(args.device)
    print(
        f"device {device}, {args.threads} threads, {args.size}x{args.size} px, 3 bands, "
        f"batch {args.batch}"
    )
    print(f"{'encoder':<16} {'params':>10} {'train img/s':>12} {'infer img/s':>12}")
    for encoder in args.encoders.split(","):
        params = sum(p.numel() for p in build_network(encoder, 3).parameters())
        train_rate, infer_rate = measure(encoder, args.size, args.batch, args.seconds, device)
        print(f"{encoder:<16} {params:>10,} {train_rate:>12.1f} {infer_rate:>12.1f}", flush=True)


if __name__ == "__main__":
    main()
