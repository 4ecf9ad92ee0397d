"""Band names: the known bands, their order, survey filter names, and one option parser.

Every command that takes band names (``--bands``, ``--detect-bands``,
``--background-bands``) parses them with :func:`parse_band_names`, so ``gri``,
``g,r,i`` and ``g, r, i`` mean the same everywhere; survey filter names in FITS headers
(``HSC-I2``, DECam's ``z DECam SDSS ...``) map to a band with :func:`normalise_band`.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from lensscan.errors import UserError

KNOWN_BANDS = ("u", "g", "r", "i", "z", "y")
"""Optical bands from the bluest to the reddest."""

DEFAULT_BANDS = ("g", "r", "i")
"""Bands of the shipped default models and of simulations without ``--bands``."""

HSC_FILTER_BANDS = {"G": "g", "R": "r", "R2": "r", "I": "i", "I2": "i", "Z": "z", "Y": "y"}
"""HSC filter names (the I2/R2 filters replaced I/R in 2016) and the band each measures."""


def parse_band_names(
    text: str | Sequence[str] | None,
    option: str = "bands",
    allowed: Collection[str] | None = None,
) -> tuple[str, ...] | None:
    """Parse ``"gri"``, ``"g,r,i"`` or a list of names into a tuple of band names.

    Single letters run together (``gri``) are one band each; longer names (``F814W``)
    need commas.

    Args:
        text: The setting's value (``None`` stays ``None``).
        option: The setting that gave the text, by its Python name (``detect_bands``), for
            messages.
        allowed: The names accepted, if limited.

    Raises:
        UserError: ```<option>` '<text>': ...`` if no band is given, one is repeated or
            one is not allowed.
    """
    if text is None:
        return None
    if isinstance(text, str):
        names = [part.strip() for part in text.split(",")] if "," in text else list(text.strip())
    else:
        names = [str(part).strip() for part in text]
    names = [name for name in names if name]
    shown = text if isinstance(text, str) else ",".join(map(str, text))
    if not names:
        raise UserError(f"`{option}` {shown!r}: no bands given; use e.g. 'gri' or 'g,r,i'")
    if allowed is not None:
        unknown = [name for name in names if name not in allowed]
        if unknown:
            raise UserError(
                f"`{option}` {shown!r}: unknown band {unknown[0]!r}; choose from {''.join(allowed)}"
            )
    if len(set(names)) != len(names):
        raise UserError(f"`{option}` {shown!r}: a band is repeated")
    return tuple(names)


def normalise_band(name: str) -> str | None:
    """Map a filter name to a band letter: ``HSC-I2`` -> ``i``, ``G`` -> ``g``.

    Also accepts a FILTER header value whose first word is the band, as DECam writes
    (``'z DECam SDSS c0004 9260.0 1520.0'``). Returns ``None`` for an unknown name.
    """
    words = str(name).strip().split()
    if not words:
        return None
    word = words[0].upper()
    if word.startswith("HSC-"):
        return HSC_FILTER_BANDS.get(word[4:])
    return word.lower() if word.lower() in KNOWN_BANDS else None


def wavelength_order(bands: Sequence[str]) -> list[int]:
    """Indices of ``bands`` from the bluest to the reddest (unknown names last)."""
    rank = {band: i for i, band in enumerate(KNOWN_BANDS)}
    return sorted(range(len(bands)), key=lambda i: rank.get(bands[i], len(rank) + i))
