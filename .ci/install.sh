#!/usr/bin/env bash
# Install lensscan and everything it needs on a fresh machine; shared by the README quick
# start, CI (.ci/run) and the Dockerfile.
#   bash .ci/install.sh        the package (editable in a checkout, so `lensscan` runs this tree)
#   bash .ci/install.sh dev    the package plus the test and lint tools, and Debian's Chromium
#                              for the browser test (playwright drives it; no browser download)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
extra=""
if [[ "${1:-}" == "dev" ]]; then
  extra="[dev]"
fi
python3 -m pip install --quiet --progress-bar off -e ".${extra}"
if [[ "${1:-}" == "dev" ]] && ! command -v chromium >/dev/null 2>&1; then
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
  else
    echo "install.sh: no chromium on PATH and not root with apt-get: the browser test will skip" >&2
  fi
fi
