#!/usr/bin/env bash
# Make sure podman can run the Kubernetes pods of tests/pods (`podman kube play`).
# Quick no-op when podman, catatonit and our containers.conf are in place. On a
# Debian/Ubuntu machine as root: install Debian's podman (4.3 on bookworm) and
# catatonit (the pause process of a pod's infra container; only a Recommends of
# podman), then write the containers.conf the tests use via CONTAINERS_CONF.
#
# Why a containers.conf: podman asks the OCI runtime for open-files and process
# limits of 1048576 each, which runc cannot apply here ("error setting rlimit");
# 4096 each is plenty for a sidecar and an app. CONTAINERS_CONF is read instead of
# the system's containers.conf files, so the host's podman setup stays as it is.
set -euo pipefail

CONF=${PODMAN_CONTAINERS_CONF:-/etc/containers/sidecar-killer-tests.conf}

read -r -d '' WANT <<'EOF' || true
# Written by sidecar-killer's build/setup/podman.sh for tests/pods (CONTAINERS_CONF).
[containers]
# runc here cannot apply podman's default 1048576 open files / processes.
default_ulimits = [
  "nofile=4096:4096",
  "nproc=4096:4096",
]
EOF

fail() { echo "podman.sh: $*" >&2; exit 1; }

have_tools() {
    command -v podman >/dev/null 2>&1 && { command -v catatonit >/dev/null 2>&1 \
        || [ -x /usr/libexec/podman/catatonit ]; }
}

if have_tools && [ -f "$CONF" ] && [ "$(cat "$CONF")" = "$WANT" ]; then
    exit 0
fi

[ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
    || fail "podman and catatonit are needed (podman kube play runs the pods of tests/pods), and $CONF; run this as root on Debian/Ubuntu to install them, or install podman >= 4.3 and catatonit yourself."

if ! have_tools; then
    echo "podman.sh: installing podman and catatonit (apt)" >&2
    apt-get update -qq
    # No Recommends: buildah, slirp4netns, fuse-overlayfs, uidmap serve rootless use only.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        podman catatonit >/dev/null
fi

# Put in place only once podman works with it: a failed setup is not a quick no-op next time.
mkdir -p "$(dirname "$CONF")"
printf '%s\n' "$WANT" >"$CONF.tmp"
if ! CONTAINERS_CONF=$CONF.tmp podman info >/dev/null 2>&1; then
    error=$(CONTAINERS_CONF=$CONF.tmp podman info 2>&1 | tail -n 3) || true
    rm -f "$CONF.tmp"
    fail "podman is installed but 'podman info' fails: $error"
fi
mv "$CONF.tmp" "$CONF"
echo "podman.sh: podman $(podman version --format '{{.Client.Version}}') ready; CONTAINERS_CONF=$CONF" >&2
