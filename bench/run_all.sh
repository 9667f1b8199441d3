#!/usr/bin/env bash
# Run every benchmark in turn with its defaults, printing each one's tables (the first seven
# took about 11 minutes on 2 cores; deploy, run_many and sandbox_unreachable add several
# more). Extra arguments are not passed on: run a script by itself to change its settings,
# e.g. `python bench/completion_lag.py --runs 40`. binary.py is not run here: it needs
# ./scripts/build-binary first. apply_overhead and lock_guard need the PostgreSQL server
# binaries (initdb, pg_ctl; Debian: apt-get install postgresql); lock_guard also MariaDB's
# (mariadb-server) and node-postgres in tests/tools/node (scripts/test installs both), and
# skips a client it cannot run, saying so.
#
# With RESULTS_DIR set, each script's raw results are also written there as JSON (the scripts
# that take --json: run_many prints its figures only).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
json() {
  [ -n "${RESULTS_DIR:-}" ] && grep -q -- '"--json"' "bench/$1.py" && mkdir -p "$RESULTS_DIR" &&
    echo "--json $RESULTS_DIR/$1.json"
}
for name in startup policy_lint hostile_text api_cost completion_lag apply_overhead lock_guard \
  deploy run_many sandbox_unreachable; do
  echo
  echo "================================ $name ================================"
  # shellcheck disable=SC2046
  "$PY" "bench/$name.py" $(json "$name" || true)
done
