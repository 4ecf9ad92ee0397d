"""Which background, flip or rotation, label and split each injected item gets."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lensscan.data.store import LENS, NONLENS
from lensscan.errors import SettingError, UserError
from lensscan.simulate.cutouts.plan import largest_remainder
from lensscan.simulate.inject.request import InjectionRequest

_TRANSFORMS = 8
_PLAN_STREAM = 1


def dihedral_transform(image: np.ndarray, transform: int) -> np.ndarray:
    """One of the 8 flips and 90-degree rotations of a (bands, H, W) image (0: itself)."""
    rotated = np.rot90(image, transform % 4, axes=(1, 2))
    return rotated[:, :, ::-1] if transform >= 4 else rotated


@dataclass(frozen=True)
class InjectionPlan:
    """Which background, transform, label and split every item gets."""

    background: np.ndarray
    transform: np.ndarray
    labels: np.ndarray
    split: np.ndarray


def plan_injection(
    request: InjectionRequest, n_backgrounds: int, hosts: np.ndarray | None = None
) -> InjectionPlan:
    """Assign backgrounds, transforms, labels and splits from the run's plan stream.

    Item k takes background ``order[k % m]`` under transform ``k // m``, where ``order`` is
    a permutation of the m usable backgrounds: all of them, or with ``max_host_mag`` those
    whose central galaxy is bright enough. The cut selects the population of lenses and
    non-lenses alike, so that a host's brightness never tells the two apart.

    Args:
        request: The request.
        n_backgrounds: Number of backgrounds.
        hosts: Host magnitude per background
            (:meth:`~lensscan.simulate.inject.injector.Injector.host_magnitudes`), needed
            with ``max_host_mag``.

    Raises:
        UserError: If more items are asked for than the backgrounds allow, or no host is
            bright enough.
    """
    usable = np.arange(n_backgrounds)
    if request.max_host_mag is not None:
        assert hosts is not None
        usable = np.flatnonzero(hosts <= request.max_host_mag)
        if usable.size == 0:
            brightest = f"{np.nanmin(hosts):.2f}" if np.isfinite(hosts).any() else "none found"
            raise UserError(
                f"`max_host_mag` {request.max_host_mag:g}: no background's central galaxy is "
                f"that bright (brightest: {brightest})"
            )
    n = request.n or usable.size
    limit = usable.size * (_TRANSFORMS if request.rotations else 1)
    if n > limit:
        hint = "" if request.rotations else "; pass `rotations` to reuse them flipped and rotated"
        which = "backgrounds" if request.max_host_mag is None else "backgrounds with such a host"
        raise SettingError("n", n, f"{usable.size} {which} give at most {limit} items{hint}")
    rng = np.random.default_rng(np.random.SeedSequence(request.seed, spawn_key=(_PLAN_STREAM,)))
    order = usable[rng.permutation(usable.size)]
    items = np.arange(n)
    background = order[items % usable.size]
    transform = (items // usable.size).astype(np.int8)
    labels = np.full(n, NONLENS, np.int8)
    labels[rng.permutation(n)[: round(request.lens_fraction * n)]] = LENS
    counts = largest_remainder(n_backgrounds, [fraction for _, fraction in request.splits])
    background_split = np.empty(n_backgrounds, np.int8)
    background_split[rng.permutation(n_backgrounds)] = np.repeat(
        np.arange(len(counts)), counts
    ).astype(np.int8)
    return InjectionPlan(background, transform, labels, background_split[background])
