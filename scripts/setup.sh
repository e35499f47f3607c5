#!/usr/bin/env bash
# Create .venv and install nkl with the pinned test environment (constraints.txt). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -c constraints.txt -e '.[torch,audformat,predict,segment,transformers,test]'
echo "nkl $(.venv/bin/python -c 'import nkl; print(nkl.__version__)') installed in .venv"
