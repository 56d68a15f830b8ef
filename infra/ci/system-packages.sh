#!/usr/bin/env bash
# System packages the test suite needs beyond Python's: PostgreSQL's server (initdb, pg_ctl, postgres),
# for the test that runs an `mlflow server` on PostgreSQL. Installed from Debian's packages when missing;
# does nothing when PostgreSQL is already there. Run by the README's test command (and so by .ci/run).
set -euo pipefail

find_initdb() {
    local found
    if found=$(command -v initdb 2>/dev/null); then
        echo "$found"
        return 0
    fi
    # Debian keeps the server binaries off PATH, one folder per major version; take the newest.
    found=$(ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1 || true)
    if [[ -n "$found" ]]; then
        echo "$found"
        return 0
    fi
    return 1
}

if initdb=$(find_initdb); then
    echo "system-packages: PostgreSQL found ($initdb); nothing to install"
    exit 0
fi

hint="install PostgreSQL's server yourself (Debian/Ubuntu: apt-get install postgresql), so that initdb is on PATH or under /usr/lib/postgresql/<version>/bin"
if ! command -v apt-get >/dev/null 2>&1; then
    echo "system-packages: PostgreSQL not found and apt-get is not available; $hint" >&2
    exit 1
fi
if [[ $(id -u) -eq 0 ]]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
else
    echo "system-packages: PostgreSQL not found, and installing it needs root (not root, and no password-less sudo); $hint" >&2
    exit 1
fi

echo "system-packages: PostgreSQL not found; installing it from Debian's packages (apt-get install postgresql)"
"${as_root[@]}" apt-get update
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql
if ! initdb=$(find_initdb); then
    echo "system-packages: apt-get installed postgresql but no initdb was found; $hint" >&2
    exit 1
fi
echo "system-packages: installed PostgreSQL ($initdb)"
