#!/usr/bin/env bash
# Time to deploy examples/webapps to N test hosts (scripts/test-hosts: network namespaces,
# each with its own empty Nix store and sshd), cold and warm, with `--hosts`, against the
# same hosts deployed one after another with `--target-host`.
#
# Usage: bench/fleet.sh [HOSTS]      (default 3; run as root after scripts/setup.sh)
#
# Rows:
#   fleet, cold      --hosts: one build, every closure copied to an empty store, every
#                    process started (the hosts in parallel)
#   fleet, warm      the same again: nothing to copy, nothing to restart
#   fleet, 1 change  a changed model: one new process and one restart per host
#   one by one, cold --target-host for each host in turn, on fresh hosts (the reference)
# and, one host at a time: the warm fleet with --max-hosts 1 (its time a host) beside one
# bare `ssh true` login a host (the floor of a warm redeploy).
# The reference rows use the same hosts, builds and tool, so the ratio says what running
# hosts in parallel gains on this machine.
set -euo pipefail

hosts=${1:-3}
[[ $hosts =~ ^[1-9][0-9]?$ ]] || {
    echo "usage: $0 [HOSTS (1-99)]" >&2
    exit 2
}
repo=$(cd "$(dirname "$0")/.." && pwd)
bin="${CARGO_TARGET_DIR:-$repo/target}/release"
model="$repo/tests/fixtures/fleet/processes.nix"
work=$(mktemp -d /tmp/bench-fleet.XXXXXX)
cleanup() {
    "$repo/scripts/test-hosts" down "$work/a" 2>/dev/null || true
    "$repo/scripts/test-hosts" down "$work/b" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

names=()
for ((i = 1; i <= hosts; i++)); do names+=("h$i"); done

# fleet_file DIR FILE EXTRA: a hosts.nix for the hosts of DIR.
fleet_file() {
    {
        echo "{"
        local n
        for n in "${names[@]}"; do
            echo "  $n = { targetHost = \"root@$("$repo/scripts/test-hosts" address "$1" "$n")\"; processes = $model; extraParams = $3; };"
        done
        echo "}"
    } >"$2"
}

# seconds CMD...: runs CMD quietly and prints its wall time.
seconds() {
    local start end
    start=$(date +%s.%N)
    "$@" >/dev/null 2>"$work/last.err" || {
        cat "$work/last.err" >&2
        echo "bench/fleet.sh: failed: $*" >&2
        exit 1
    }
    end=$(date +%s.%N)
    awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }'
}

"$repo/scripts/test-hosts" up "$work/a" "${names[@]}"
fleet_file "$work/a" "$work/hosts.nix" "{ }"
fleet_file "$work/a" "$work/hosts-changed.nix" "{ webappInstances = 3; }"
export NIX_SSHOPTS
NIX_SSHOPTS=$("$repo/scripts/test-hosts" sshopts "$work/a")
ctl() { "$repo/scripts/test-hosts" ctl "$work/a" "$@"; }
# The build itself is not what is measured: make it once beforehand.
ctl "$bin/nixproc-sysvinit-switch" --hosts "$work/hosts.nix" --dry-run >/dev/null 2>&1
ctl "$bin/nixproc-sysvinit-switch" --hosts "$work/hosts-changed.nix" --dry-run >/dev/null 2>&1

cold=$(seconds ctl "$bin/nixproc-sysvinit-switch" --hosts "$work/hosts.nix" --max-hosts "$hosts")
warm=$(seconds ctl "$bin/nixproc-sysvinit-switch" --hosts "$work/hosts.nix" --max-hosts "$hosts")
change=$(seconds ctl "$bin/nixproc-sysvinit-switch" --hosts "$work/hosts-changed.nix" --max-hosts "$hosts")
warm_serial=$(seconds ctl "$bin/nixproc-sysvinit-switch" --hosts "$work/hosts-changed.nix" --max-hosts 1)
logins() {
    local n
    for n in "${names[@]}"; do
        # shellcheck disable=SC2086 # NIX_SSHOPTS is a list of options, as Nix splits it
        ctl ssh $NIX_SSHOPTS -o BatchMode=yes -T "root@$("$repo/scripts/test-hosts" address "$work/a" "$n")" true
    done
}
ssh_true=$(seconds logins)

"$repo/scripts/test-hosts" up "$work/b" "${names[@]}"
NIX_SSHOPTS=$("$repo/scripts/test-hosts" sshopts "$work/b")
serial() {
    local n
    for n in "${names[@]}"; do
        "$repo/scripts/test-hosts" ctl "$work/b" "$bin/nixproc-sysvinit-switch" \
            --target-host "root@$("$repo/scripts/test-hosts" address "$work/b" "$n")" "$model"
    done
}
one_by_one=$(seconds serial)

printf '\n%-22s %8s %8s\n' "examples/webapps to $hosts hosts" seconds "vs ref"
ratio() { awk -v a="$1" -v b="$one_by_one" 'BEGIN { printf "%.2f", a / b }'; }
printf '%-22s %8.2f %8s\n' "fleet, cold" "$cold" "$(ratio "$cold")"
printf '%-22s %8.2f %8s\n' "fleet, warm" "$warm" "$(ratio "$warm")"
printf '%-22s %8.2f %8s\n' "fleet, 1 change" "$change" "$(ratio "$change")"
printf '%-22s %8.2f %8s\n' "one by one, cold (ref)" "$one_by_one" "1.00"
per_host() { awk -v a="$1" -v n="$hosts" 'BEGIN { printf "%.3f", a / n }'; }
printf '\n%-34s %8s %10s\n' "one host at a time ($hosts hosts)" seconds "a host"
printf '%-34s %8.2f %10s\n' "fleet, warm, --max-hosts 1" "$warm_serial" "$(per_host "$warm_serial")"
printf '%-34s %8.2f %10s\n' "ssh true, one login a host" "$ssh_true" "$(per_host "$ssh_true")"
printf 'fleet, warm, all hosts at once: %.2f s = %.2f x one host'"'"'s share of the serial run\n' \
    "$warm" "$(awk -v a="$warm" -v b="$warm_serial" -v n="$hosts" 'BEGIN { printf "%.2f", a / (b / n) }')"
