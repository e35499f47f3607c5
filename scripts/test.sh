#!/usr/bin/env bash
# Set up nkl and run the test suite (the command .ci/run runs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. scripts/find_emodb.sh
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
