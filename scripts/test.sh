#!/usr/bin/env bash
# Prepare this machine (first run only), build, and run every test: the unit tests
# (libcheck) as built, under ASan/UBSan and under valgrind, then the integration
# tests that migrate real processes with real CRIU.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
make -s
make -s asan
make -s valgrind
# The fuzzers, a short run of each under ASan/UBSan (make fuzz FUZZ_SECONDS=N for longer).
make -s fuzz FUZZ_SECONDS="${FUZZ_SECONDS:-30}"
make -s test
# The integration suite again, against daemons built with ASan/UBSan.
make -s test-asan
# Every phase of a migration against every fault, printed as a table.
make -s faults
