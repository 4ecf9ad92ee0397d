"""Importing this module builds the real-galaxy stamps of this process (about 0.3 s).

Worker processes import it before any work (see ``DomainSpec.caches``); a worker pool's
forkserver imports it once, so that every worker forked from it starts with the stamps.
"""

from lensscan.simulate.physics.galaxies import galaxy_library

galaxy_library()
