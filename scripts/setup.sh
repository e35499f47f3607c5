#!/usr/bin/env bash
# Create .venv and install nkl with the pinned test environment (constraints.txt). Idempotent.
# Also installs, where missing and when run as root, the Debian libraries torchcodec (FFmpeg 5.1) and the
# report tests (poppler's pdftotext/pdftoppm) need.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
APT_PACKAGES="libavcodec59 libavformat59 libavutil57 libswresample4 libswscale6 libavdevice59 libavfilter8 poppler-utils"
missing=""
for p in $APT_PACKAGES; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing system packages:$missing"
    (apt-get install -y -q $missing >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q $missing >/dev/null; })
  else
    echo "warning: system packages missing:$missing (apt-get install them; pyannote/SQUIM and PDF checks need them)" >&2
  fi
fi
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -c constraints.txt -e '.[all,test]'
# Resemblyzer (offline speaker embeddings, weights in the wheel) without its webrtcvad pin (see pyproject.toml)
.venv/bin/python -m pip install --quiet -c constraints.txt --no-deps resemblyzer
echo "nkl $(.venv/bin/python -c 'import nkl; print(nkl.__version__)') installed in .venv"
