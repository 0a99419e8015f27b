#!/usr/bin/env bash
# Prepare this machine (first run only: packages, CRIU 4.2.1), build hauld and run it
# in the foreground with a data directory in ./var. Extra arguments go to hauld.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
make -s
exec ./build/hauld "$@"
