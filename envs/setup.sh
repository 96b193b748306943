#!/usr/bin/env bash
# Idempotent setup of emocue: system packages (only when missing), a project-local .venv with the
# pinned Python dependencies, and the emocue package installed editable.
#
#   bash envs/setup.sh          # what the workflow needs (no system packages at all)
#   bash envs/setup.sh --test   # plus what the test suite needs: chromium and a Slurm test cluster
#
# Not root (an HPC login node)? Missing system packages are listed for your admin, nothing fails
# obscurely. The workflow itself needs no system package: espeak-ng comes as a wheel.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

want_test=0
[[ "${1:-}" == "--test" ]] && want_test=1

log() { printf '[setup] %s\n' "$*"; }

# ---- system packages ------------------------------------------------------------------------
test_apt_packages=(chromium munge slurmctld slurmd slurm-client)
if (( want_test )); then
  missing=()
  for pkg in "${test_apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if (( ${#missing[@]} )); then
    if [[ $(id -u) -ne 0 ]]; then
      log "missing system packages needed by the tests: ${missing[*]}"
      log "ask your administrator to run: apt-get install -y ${missing[*]}"
      exit 1
    fi
    log "installing system packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

# ---- Python virtual environment ----------------------------------------------------------------
python_bin=${PYTHON:-python3}
if ! "$python_bin" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  log "Python >= 3.11 is needed (found: $("$python_bin" --version 2>&1)); set PYTHON=/path/to/python3.11"
  exit 1
fi
[[ -x .venv/bin/python ]] || { log "creating .venv"; "$python_bin" -m venv .venv; }

requirements=(envs/requirements.txt)
(( want_test )) && requirements+=(envs/requirements-dev.txt)
stamp=.venv/.emocue-setup-$(cat "${requirements[@]}" envs/constraints.txt pyproject.toml | sha256sum | cut -c1-16)
if [[ ! -f $stamp ]]; then
  log "installing Python packages into .venv (${requirements[*]})"
  req_args=()
  for r in "${requirements[@]}"; do req_args+=(-r "$r"); done
  # Some machines' pip config lists local wheel folders that may be absent: drop those warnings.
  .venv/bin/python -m pip install -q --disable-pip-version-check -c envs/constraints.txt "${req_args[@]}" \
    2>&1 | { grep -v "^WARNING: Location 'file:" || true; }
  .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps -e . \
    2>&1 | { grep -v "^WARNING: Location 'file:" || true; }
  # torchaudio's bundled C++ extensions link CUDA and cannot load with CPU torch; without them
  # torchaudio uses its pure-Python implementations (kaldi fbank, resample), which we rely on.
  rm -f .venv/lib/python3*/site-packages/torchaudio/lib/*.so
  touch "$stamp"
else
  log ".venv is up to date"
fi
log "done"
