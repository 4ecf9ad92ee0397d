"""``lensscan benchmark``: the DeepLense domain-adaptation comparison, reproduced.

The domain-adaptation methods compared on the same data, encoders and seeds, as tables.
(The top-level ``benchmarks/`` folder is another thing: scripts that time lensscan's
commands.)

Modules, one concept each:

* :mod:`~lensscan.adaptation_benchmark.plan`: the grid (methods x encoders x seeds) and
  the presets;
* :mod:`~lensscan.adaptation_benchmark.datasets`: the standard stores, simulated once and
  reused;
* :mod:`~lensscan.adaptation_benchmark.runner`: train and evaluate every cell, resumably;
* :mod:`~lensscan.adaptation_benchmark.table`: mean and spread over seeds, as JSON,
  Markdown and rich;
* :mod:`~lensscan.adaptation_benchmark.reference`: the AUROCs DeepLense published;
* :mod:`~lensscan.adaptation_benchmark.hardware`: the CPU / GPU a cell ran on.
"""
