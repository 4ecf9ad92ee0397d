"""The one training loop: ``train(TrainConfig(...))`` writes a weights folder.

Example::

    from lensscan.training.settings import TrainConfig
    from lensscan.training import train

    train(TrainConfig(source="sim.zarr", target="hsc.zarr", val="hsc.zarr",
                      method="adda", encoder="ecnn", epochs=20, out="weights/ecnn-adda"))
"""

from lensscan.training.loop import train

__all__ = ["train"]
