#!/usr/bin/env bash
# Make sure a Docker engine answers `docker info`. Quick no-op when one does.
# On a Debian/Ubuntu machine where we are root and none runs, install Debian's
# docker.io and start dockerd in the background (there is no systemd in the
# build/test machines, so we start it by hand). Anywhere else: say how to get one.
set -euo pipefail

LOG=${DOCKERD_LOG:-/var/log/dockerd.log}

if docker info >/dev/null 2>&1; then
    exit 0
fi

fail() { echo "engine.sh: $*" >&2; exit 1; }

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    fail "no Docker engine reachable (docker info failed). Start one (e.g. 'sudo systemctl start docker', Docker Desktop, or set DOCKER_HOST), or run this as root on Debian/Ubuntu to install docker.io."
fi

if ! command -v dockerd >/dev/null 2>&1; then
    echo "engine.sh: installing docker.io (apt)" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
fi

if ! pgrep -x dockerd >/dev/null 2>&1; then
    echo "engine.sh: starting dockerd in the background, log: $LOG" >&2
    # setsid: dockerd must outlive this script and make's process group.
    setsid dockerd >>"$LOG" 2>&1 < /dev/null &
fi

# dockerd needs a few seconds to set up iptables and containerd.
for _ in $(seq 1 60); do
    if docker info >/dev/null 2>&1; then
        exit 0
    fi
    sleep 1
done
tail -n 20 "$LOG" >&2 || true
fail "dockerd did not answer within 60 s (log: $LOG)"
