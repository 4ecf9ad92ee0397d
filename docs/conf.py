"""Sphinx configuration of the lensscan documentation.

Build: ``python3 -m sphinx -W --keep-going -b html docs docs/_build/html`` (what
``tests/test_docs.py`` does into a temporary folder). Pages are Markdown (MyST); the command
pages (``docs/commands/``) and the model-card table are generated from the CLI and from
``weights/*/model.json`` by the local extension ``docs/_ext/lensscan_docs.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))

from lensscan import __version__  # noqa: E402

project = "lensscan"
author = "the lensscan developers"
copyright = "the lensscan developers"
version = release = __version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "lensscan_docs",
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
# docs/ also holds the figures, their scripts, the HPC files and the benchmarks' own
# tables (read by the README and included by the pages that show them).
exclude_patterns = [
    "_build",
    "_ext",
    "benchmark",
    "benchmark-*",
    "hpc",
    "README.md",
]

# Options and help texts are full of "--": keep them as typed (no en dashes, no curly quotes).
smartquotes = False

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# The Google docstrings of lensscan; type hints are shown in the signature only.
napoleon_google_docstring = True
napoleon_numpy_docstring = False
autodoc_typehints = "signature"
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": True}

html_theme = "pydata_sphinx_theme"
html_title = f"lensscan {version}"
html_static_path = ["_static"]
html_css_files = ["lensscan.css"]
html_theme_options = {
    "navbar_align": "left",
    "header_links_before_dropdown": 5,
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
    "secondary_sidebar_items": {"models/index": [], "commands/*": []},
}
html_sidebars = {"index": [], "getting-started": [], "changelog": []}
html_show_sourcelink = False
