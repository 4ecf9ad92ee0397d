"""LensFinder: a network with its card; scores raw cutouts as lens probabilities."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext

import numpy as np
import torch

from lensscan.bands import DEFAULT_BANDS
from lensscan.data.normalize import DEFAULT_NORMALISATION, normalisation_from_dict
from lensscan.errors import SettingError, UserError
from lensscan.models.card import ModelCard
from lensscan.models.network import build_network
from lensscan.models.registry import check_input_size


def select_device(name: str | None = None) -> torch.device:
    """The device to run on: ``name`` if given, else CUDA, then MPS, then CPU.

    Raises:
        UserError: If the requested device is unknown or not available.
    """
    if name is None or name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise SettingError("device", name, "not a device (use cpu, cuda, cuda:N or mps)") from None
    available = {
        "cpu": True,
        "cuda": torch.cuda.is_available()
        and (device.index is None or device.index < torch.cuda.device_count()),
        "mps": torch.backends.mps.is_available(),
    }
    if not available.get(device.type, False):
        raise SettingError("device", name, "not available on this machine")
    return device


class LensFinder:
    """A lens classifier ready to score cutouts.

    On CUDA the network runs in bf16 autocast with its weights and inputs in channels-last
    memory order, which is what cuDNN's fastest convolution kernels for tensor cores take;
    elsewhere it runs in float32, in the default layout.

    Args:
        network: The trained network (put in eval mode and moved to ``device``).
        card: Its model card.
        device: Where to run; None picks CUDA, MPS or CPU.
        channels_last: Use the channels-last memory order (None: on CUDA only).
    """

    def __init__(
        self,
        network: torch.nn.Module,
        card: ModelCard,
        device: str | torch.device | None = None,
        channels_last: bool | None = None,
    ) -> None:
        self.device = device if isinstance(device, torch.device) else select_device(device)
        self.channels_last = self.device.type == "cuda" if channels_last is None else channels_last
        network = network.to(self.device)
        if self.channels_last:
            network = network.to(memory_format=torch.channels_last)
        self.network = network.eval()
        self.card = card
        self.normalisation = normalisation_from_dict(card.normalisation)

    @property
    def name(self) -> str:
        """The model's name."""
        return self.card.name

    @property
    def bands(self) -> tuple[str, ...]:
        """Band names in input-channel order."""
        return self.card.bands

    @property
    def input_size(self) -> int:
        """Side in pixels of the cutouts the model takes."""
        return self.card.input_size

    @property
    def pixel_scale(self) -> float | None:
        """Pixel scale in arcsec of the training images."""
        return self.card.pixel_scale

    @property
    def sha256(self) -> str | None:
        """SHA-256 of the weights file (None for an unsaved model)."""
        return self.card.weights_sha256

    def check_input(self, bands: Sequence[str], shape: tuple[int, int, int], source: str) -> None:
        """Check that cutouts with these bands and (C, H, W) shape fit the model.

        Args:
            bands: Band names of the input, in channel order.
            shape: (C, H, W) of one cutout.
            source: Where the input came from, as the message names it: a file, or a setting
                and its value (```data` x.zarr``).

        Raises:
            UserError: If the bands or the cutout size differ from the model's.
        """
        if tuple(bands) != self.bands:
            raise UserError(
                f"{source}: bands {','.join(bands)} do not match model {self.name!r} "
                f"(expects {','.join(self.bands)} in that order)"
            )
        channels, height, width = shape
        if channels != len(self.bands) or (height, width) != (self.input_size, self.input_size):
            raise UserError(
                f"{source}: cutouts of shape {tuple(shape)} do not fit model {self.name!r} "
                f"(expects ({len(self.bands)}, {self.input_size}, {self.input_size}))"
            )

    def _check_shape(self, shape: Sequence[int]) -> None:
        expected = (len(self.bands), self.input_size, self.input_size)
        if len(shape) != 4 or tuple(shape[1:]) != expected:
            raise ValueError(f"images have shape {tuple(shape)}; model expects (N, *{expected})")

    @torch.no_grad()
    def logits_tensor(self, images: torch.Tensor) -> torch.Tensor:
        """Lens logits of a batch already on :attr:`device`.

        Args:
            images: (N, C, H, W) raw flux (any per-band affine scale) in card band order.

        Returns:
            (N,) float32 logits on the same device; P(lens) = sigmoid(logit).
        """
        x = self._normalised(images)
        with self._autocast():
            logits = self.network(x)
        return logits.float()

    def _normalised(self, images: torch.Tensor) -> torch.Tensor:
        """The network's input: shape checked, normalised as the card says."""
        self._check_shape(images.shape)
        x = self.normalisation(images.float())
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def _autocast(self) -> AbstractContextManager[object]:
        """bf16 autocast on CUDA, nothing elsewhere."""
        if self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return nullcontext()

    @property
    def members(self) -> int:
        """Networks whose logits the model averages (1 for a single network)."""
        return self.card.members

    @torch.no_grad()
    def member_logits_tensor(self, images: torch.Tensor) -> torch.Tensor:
        """Each member's lens logits of a batch already on :attr:`device`.

        Args:
            images: (N, C, H, W) raw flux in card band order.

        Returns:
            (members, N) float32 logits; their mean is :meth:`logits_tensor`.
        """
        x = self._normalised(images)
        networks = getattr(self.network, "members", None) or [self.network]
        with self._autocast():
            return torch.stack([network(x) for network in networks]).float()

    def score_tensor(self, images: torch.Tensor) -> torch.Tensor:
        """Lens probabilities of a batch already on :attr:`device`.

        Args:
            images: (N, C, H, W) raw flux (any per-band affine scale) in card band order.

        Returns:
            (N,) float32 probabilities in [0, 1] on the same device.
        """
        return torch.sigmoid(self.logits_tensor(images))

    def score(self, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Lens probabilities of raw cutouts, in float64.

        A float32 sigmoid rounds every logit above about 17 to exactly 1.0, so confident
        lenses and confident non-lenses would tie at the top of a ranking (and ties count
        against a model in TPR0/TPR10); float64 keeps them apart up to a logit of about 36.

        Args:
            images: (N, C, H, W) raw flux (or min-max cutouts) in card band order.
            batch_size: Cutouts per forward pass.

        Returns:
            (N,) float64 probabilities in [0, 1].
        """
        images = np.asarray(images)
        self._check_shape(images.shape)
        logits = [
            self.logits_tensor(
                torch.from_numpy(np.ascontiguousarray(images[i : i + batch_size], np.float32)).to(
                    self.device
                )
            ).cpu()
            for i in range(0, len(images), batch_size)
        ]
        if not logits:
            return np.zeros(0, np.float64)
        return torch.sigmoid(torch.cat(logits).double()).numpy()


def create_lens_finder(
    encoder: str = "small_cnn",
    bands: Sequence[str] = DEFAULT_BANDS,
    input_size: int = 64,
    pixel_scale: float | None = 0.168,
    seed: int = 0,
    device: str | torch.device | None = "cpu",
    **encoder_options: object,
) -> LensFinder:
    """An untrained lens finder (for tests and as the start of training).

    Args:
        encoder: Registry name of the encoder.
        bands: Band names in channel order.
        input_size: Cutout side in pixels.
        pixel_scale: Pixel scale in arcsec.
        seed: Seed of the weight initialisation.
        device: Where to put it (default CPU, so tests are reproducible).
        **encoder_options: Options passed to the encoder builder.
    """
    check_input_size(encoder, input_size, "input_size")
    # fork_rng keeps the caller's global random state untouched.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        network = build_network(encoder, len(bands), encoder_options)
    card = ModelCard(
        name=f"untrained-{encoder}",
        encoder=encoder,
        method="untrained",
        bands=tuple(bands),
        pixel_scale=pixel_scale,
        input_size=input_size,
        normalisation=DEFAULT_NORMALISATION.to_dict(),
        encoder_options=dict(encoder_options),
        training={"seed": seed},
    )
    return LensFinder(network, card, device)
