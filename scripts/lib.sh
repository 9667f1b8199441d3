# Shared by scripts/demo, scripts/test and .ci/run. Source it; do not run it.
# Everything here is idempotent: a second run reuses the virtualenv and the packages.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$ROOT/.venv"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else echo "need root for: $*" >&2; return 1
  fi
}

apt_updated=""
apt_install() {
  command -v apt-get >/dev/null 2>&1 || { echo "no apt-get: install $* yourself" >&2; return 1; }
  if [ -z "$apt_updated" ]; then
    as_root apt-get update -qq && apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# The virtualenv in .venv, with ecs-migrate and what $1 asks for: `dev` (the default: the
# development tools, the test suite's checkers and migration tools) or `demo` (only what the
# demo and the README tour run: the sandbox, the PostgreSQL driver, squawk and the example
# app's Alembic). A stamp per set, redone when pyproject.toml changes.
bootstrap() {
  local py=${PYTHON:-python3} set=${1:-dev}
  if [ ! -x "$VENV/bin/python" ]; then
    say "Creating the virtualenv in .venv"
    if ! "$py" -m venv "$VENV" 2>/dev/null; then
      rm -rf "$VENV"
      apt_install python3-venv && "$py" -m venv "$VENV"
    fi
  fi
  local stamp="$VENV/.installed-$set" what args
  if [ "$set" = demo ] && [ -f "$VENV/.installed-dev" ] && [ ! "$ROOT/pyproject.toml" -nt "$VENV/.installed-dev" ]; then
    return 0 # the development set holds the demo's
  fi
  if [ ! -f "$stamp" ] || [ "$ROOT/pyproject.toml" -nt "$stamp" ]; then
    if [ "$set" = demo ]; then
      what="ecs-migrate with the sandbox, the PostgreSQL driver, squawk and the example app's Alembic"
      args=(-e "$ROOT[sandbox,postgres,sql]" -r "$ROOT/examples/app/requirements.txt")
    else
      what="ecs-migrate and its development tools"
      args=(-e "$ROOT[dev]")
    fi
    say "Installing $what into .venv"
    pip_progress "$VENV/bin/python" -m pip install --disable-pip-version-check --upgrade pip
    pip_progress "$VENV/bin/python" -m pip install --disable-pip-version-check "${args[@]}"
    touch "$stamp"
  fi
}

# Run a pip install, showing one line per package it collects (pip -q shows nothing for a
# minute); its whole output is kept, and shown if it fails.
pip_progress() {
  local log status=0
  log=$(mktemp)
  "$@" >"$log" 2>&1 &
  local pid=$! shown=0 count
  while kill -0 "$pid" 2>/dev/null; do
    count=$(grep -c '^Collecting \|^Requirement already satisfied' "$log" || true)
    if [ "$count" -gt "$shown" ]; then
      grep '^Collecting \|^Requirement already satisfied' "$log" | sed -n "$((shown + 1)),${count}p" \
        | sed -E 's/^Collecting ([^ ]+).*/    collecting \1/; s/^Requirement already satisfied: ([^ ]+).*/    have \1/' >&2
      shown=$count
    fi
    sleep 0.5
  done
  wait "$pid" || status=$?
  if [ "$status" != 0 ]; then
    cat "$log" >&2
  else
    printf '    installed (%s packages looked at)\n' "$(grep -c '^Collecting \|^Requirement already satisfied' "$log" || true)" >&2
  fi
  rm -f "$log"
  return "$status"
}

# PostgreSQL's server binaries (initdb, pg_ctl) from the OS packages.
ensure_postgres() {
  if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1; then
    return 0
  fi
  say "Installing PostgreSQL from the OS packages"
  apt_install postgresql
}

# MariaDB's server binaries (mariadbd, mariadb-install-db) from the OS packages, for the MySQL
# tests. The tests start their own throwaway server: a system service the package may start is
# neither needed nor used.
ensure_mariadb() {
  if ! command -v mariadbd >/dev/null 2>&1 && ! command -v mysqld >/dev/null 2>&1 \
    && [ ! -x /usr/sbin/mariadbd ] && [ ! -x /usr/sbin/mysqld ]; then
    say "Installing MariaDB from the OS packages"
    apt_install mariadb-server
  fi
}

# Small tools the tests use as a runner has them: openssl (a test server's TLS certificate),
# jq (the generated workflow's register step), debootstrap (tests/binary's Debian roots), and
# what scripts/build-binary needs beside Python: gcc with a static libc, LZ4's library and tool.
ensure_test_tools() {
  local missing=()
  for tool in openssl jq debootstrap; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
  done
  # scripts/build-binary (tests/binary): the static first stage links liblz4's frame decoder
  command -v lz4 >/dev/null 2>&1 || missing+=(lz4)
  command -v gcc >/dev/null 2>&1 || missing+=(gcc libc6-dev)
  [ -f /usr/include/lz4frame.h ] || missing+=(liblz4-dev)
  if [ ${#missing[@]} -gt 0 ]; then
    say "Installing ${missing[*]} from the OS packages"
    apt_install "${missing[@]}"
  fi
}

# The real migration tools the end-to-end tool tests run under `apply` (issue 23): the npm ones
# from tests/tools/node's committed package-lock.json (`npm ci` into its node_modules, redone
# only when the lock file changes: a stamp holds the lock's checksum), and sqitch (with its
# PostgreSQL driver), ActiveRecord and Ruby's pg from the OS packages, only if missing.
# A tool that cannot be installed is said, and its tests skip; with ECS_MIGRATE_REQUIRE_TOOLS=1
# (.ci/run) this fails instead.
ensure_migration_tools() {
  local node_dir="$ROOT/tests/tools/node" failed=()
  if ! command -v npm >/dev/null 2>&1; then
    say "Installing Node.js and npm from the OS packages"
    apt_install nodejs npm || failed+=("nodejs npm")
  fi
  local stamp="$node_dir/node_modules/.ecs-migrate-stamp"
  local sum
  sum=$(cat "$node_dir/package.json" "$node_dir/package-lock.json" | sha256sum | cut -d' ' -f1)
  if command -v npm >/dev/null 2>&1 && { [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$sum" ]; }; then
    say "Installing the npm migration tools and gitlab-ci-local (npm ci in tests/tools/node)"
    if (cd "$node_dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null); then
      echo "$sum" >"$stamp"
    else
      failed+=("the npm tools (npm ci)")
    fi
  fi
  local missing=()
  for pkg in sqitch libdbd-pg-perl ruby-activerecord ruby-pg; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    say "Installing ${missing[*]} from the OS packages"
    apt_install "${missing[@]}" || failed+=("${missing[*]}")
  fi
  if [ ${#failed[@]} -gt 0 ]; then
    if [ "${ECS_MIGRATE_REQUIRE_TOOLS:-}" = 1 ]; then
      echo "could not install ${failed[*]} (ECS_MIGRATE_REQUIRE_TOOLS=1 requires them)" >&2
      return 1
    fi
    echo "could not install ${failed[*]}: the tests of those tools will skip" >&2
  fi
  return 0
}
