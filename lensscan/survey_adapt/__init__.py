"""``lensscan adapt``: a finder adapted to a survey's own images by injected arcs.

Example::

    from lensscan.survey_adapt import AdaptConfig, run_adapt

    result = run_adapt([], AdaptConfig(out="weights/my-survey", pool=("pool.zarr",)))
    print(result.kept, result.reason)
"""

from lensscan.survey_adapt.run import AdaptResult, run_adapt
from lensscan.survey_adapt.settings import AdaptConfig

__all__ = ["AdaptConfig", "AdaptResult", "run_adapt"]
