# Sourced by the scripts: point NKL_EMODB at EmoDB unless it is set already.
if [ -z "${NKL_EMODB:-}" ]; then
  for candidate in "$PWD/../shared/data/emodb" "$PWD/data/emodb"; do
    if [ -f "$candidate/emodb.csv" ]; then
      NKL_EMODB=$(cd "$candidate" && pwd)
      export NKL_EMODB
      break
    fi
  done
fi
if [ -z "${NKL_EMODB:-}" ]; then
  echo "EmoDB not found: download it (see README, 'Getting EmoDB') and set NKL_EMODB=/path/to/emodb" >&2
fi
