#!/usr/bin/env bash
# Print the commit a build's sources come from, as `--version` shows it (entrypoint/buildinfo.py):
# 12 hex digits (--full: 40), plus "-dirty" when what ships or makes it (entrypoint/, launcher/,
# build/, Dockerfile.scratch) differs from that commit (changed, staged or untracked files;
# ignored ones aside).
# "unknown" outside a git checkout (e.g. inside a Docker build stage: pass SOURCE_COMMIT there).
set -euo pipefail
cd "$(dirname "$0")/.."
length=12
[ "${1:-}" != --full ] || length=40
commit=$(git rev-parse --short="$length" HEAD 2>/dev/null) || { echo unknown; exit 0; }
if [ -n "$(git status --porcelain --untracked-files=all -- entrypoint launcher build Dockerfile.scratch)" ]; then
    commit="$commit-dirty"
fi
echo "$commit"
