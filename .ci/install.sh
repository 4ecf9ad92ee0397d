#!/usr/bin/env bash
# Install lensscan and everything it needs on a fresh machine; shared by the README quick
# start, CI (.ci/run) and the Dockerfile.
#   bash .ci/install.sh        the package (editable in a checkout, so `lensscan` runs this tree)
#   bash .ci/install.sh dev    the package plus the test and lint tools
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
extra=""
if [[ "${1:-}" == "dev" ]]; then
  extra="[dev]"
fi
python3 -m pip install --quiet --progress-bar off -e ".${extra}"
