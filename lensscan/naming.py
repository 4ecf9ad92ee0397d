"""Registry names as users type them: ``self-ensembling`` and ``self_ensembling`` alike.

Registries store names with underscores; every lookup passes the user's spelling through
:func:`canonical_name` first, so options and config files may use hyphens.
"""


def canonical_name(name: str) -> str:
    """The registry spelling of a method or encoder name (hyphens become underscores)."""
    return name.strip().replace("-", "_")
