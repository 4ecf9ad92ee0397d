"""``lensscan benchmark``: the DeepLense domain-adaptation comparison, reproduced.

Modules, one concept each:

* :mod:`~lensscan.benchmark.plan`: the grid (methods x encoders x seeds) and the presets;
* :mod:`~lensscan.benchmark.datasets`: the standard stores, simulated once and reused;
* :mod:`~lensscan.benchmark.runner`: train and evaluate every cell, resumably;
* :mod:`~lensscan.benchmark.table`: mean and spread over seeds, as JSON, Markdown and rich;
* :mod:`~lensscan.benchmark.reference`: the AUROCs DeepLense published;
* :mod:`~lensscan.benchmark.hardware`: the CPU / GPU a cell ran on.
"""
