#!/usr/bin/env bash
# Benchmark of nixproc-sysvinit-switch (not a test: it prints figures, asserts nothing).
#
# 1. Cold start: 100 processes in 10 dependency layers of 10 (each process depends on
#    every process of the layer below), every start taking 0.2 s to become ready.
#    Compared with what older tools do: a sequential loop over rc3.d/S*.
#    Target: switch <= 2.5 s and >= 8x faster than the loop.
# 2. Redeploy: 200 processes deployed, then a profile in which exactly one of them
#    changed. Target: close to the time of one restart (stop + 0.2 s start).
# 3. Scale: cold start of SIZES (default 1000 and 10000) trivial processes in chains of
#    10 (no readiness wait), against the floor: a bare loop starting the same scripts,
#    chain link by chain link, with the same parallelism (JOBS at once).
#    Targets: 1,000 in <= 1.5 s, 10,000 in <= 12 s.
#
# The processes are real: each init.d script starts a `sleep` with a PID file and
# waits 0.2 s before returning (standing in for a readiness check).
#
# Usage: bench/switch.sh            (builds the release binaries first)
#   SWITCH=/path/to/nixproc-sysvinit-switch  use that binary, skip the build
#   JOBS=N                                   parallel jobs (default 16)
#   READY=SECONDS                            readiness delay (default 0.2)
#   SIZES="1000 10000"                       process counts of part 3
#   PARTS="1 2 3"                            which parts to run
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
jobs=${JOBS:-16}
ready=${READY:-0.2}
if [ -z "${SWITCH:-}" ]; then
    (cd "$here" && cargo build --release --quiet --bin nixproc-sysvinit-switch)
    SWITCH="${CARGO_TARGET_DIR:-$here/target}/release/nixproc-sysvinit-switch"
fi

work=$(mktemp -d /tmp/nixproc-bench.XXXXXX)
tag="nixproc-bench-$(basename "$work")"
cleanup() {
    # Stop every process this benchmark started (they all have PID files), whatever
    # happened.
    local f
    for f in "$work"/run/*.pid; do
        if [ -f "$f" ]; then kill -KILL "$(cat "$f")" 2>/dev/null || true; fi
    done
    rm -rf "$work"
}
trap cleanup EXIT

# add_process DIR NAME SEQUENCE DEPS INTERPRETER START [COMMENT]: a process of the
# benchmark in the profile tree DIR: its init.d script (run by INTERPRETER; `start` runs
# the shell commands START, which start a sleep and write its PID file), its rc3.d start
# link and its manifest (DEPS: the JSON texts of its dependencies' names, comma-separated).
add_process() {
    local dir=$1 name=$2 seq=$3 deps=$4 interpreter=$5 start=$6 comment=${7:-}
    mkdir -p "$dir/etc/rc.d/init.d" "$dir/etc/rc.d/rc3.d" "$dir/share/nixproc-sysvinit/processes"
    cat >"$dir/etc/rc.d/init.d/$name" <<EOF
#!$interpreter
# $name $comment
pidfile='$work/run/$name.pid'
case "\$1" in
  start)
    if [ -f "\$pidfile" ] && kill -0 "\$(cat "\$pidfile")" 2>/dev/null; then exit 0; fi
$start
    ;;
  stop)
    if [ -f "\$pidfile" ]; then kill "\$(cat "\$pidfile")" 2>/dev/null || true; rm -f "\$pidfile"; fi
    ;;
  status) [ -f "\$pidfile" ] && kill -0 "\$(cat "\$pidfile")" 2>/dev/null ;;
esac
EOF
    chmod +x "$dir/etc/rc.d/init.d/$name"
    ln -s "../init.d/$name" "$dir/etc/rc.d/rc3.d/S$(printf '%02d' "$seq")$name"
    printf '{"name":"%s","sequence":%d,"dependencies":[%s],"runlevels":[3]}\n' \
        "$name" "$seq" "$deps" >"$dir/share/nixproc-sysvinit/processes/$name.json"
}

# make_profile DIR LAYERS WIDTH [CHANGED_NAME]: LAYERS layers of WIDTH processes, each
# depending on every process of the layer below and taking $ready seconds to start.
make_profile() {
    local dir=$1 layers=$2 width=$3 changed=${4:-}
    local l w name deps version
    local start="    (exec -a '$tag' sleep 100000) </dev/null >/dev/null 2>&1 &
    echo \$! >\"\$pidfile\"
    sleep $ready"
    for ((l = 0; l < layers; l++)); do
        deps=""
        if ((l > 0)); then
            for ((w = 0; w < width; w++)); do deps+="\"l$((l - 1))p$w\","; done
            deps=${deps%,}
        fi
        for ((w = 0; w < width; w++)); do
            name="l${l}p$w"
            version=1
            [ "$name" = "$changed" ] && version=2
            add_process "$dir" "$name" $((l + 1)) "$deps" /bin/bash "$start" "version $version"
        done
    done
}

parts=${PARTS:-1 2 3}
sizes=${SIZES-1000 10000}
part() { case " $parts " in *" $1 "*) return 0 ;; esac; return 1; }

# make_chains DIR N: N trivial processes c<C>p<I> in chains of 10 (I = 0..9), each
# depending on the one before it in its chain; start (a /bin/sh script, the cheapest
# init script there is) forks a sleep, writes its PID file and returns.
make_chains() {
    local dir=$1 n=$2 c i deps
    local start="    sleep 100000 </dev/null >/dev/null 2>&1 &
    echo \$! >\"\$pidfile\""
    for ((c = 0; c < n / 10; c++)); do
        for ((i = 0; i < 10; i++)); do
            deps=""
            ((i > 0)) && deps="\"c${c}p$((i - 1))\""
            add_process "$dir" "c${c}p$i" $((i + 1)) "$deps" /bin/sh "$start"
        done
    done
}

# Runs `SCRIPT start` for every SCRIPT given, at most $jobs at once (the floor).
start_all() {
    local s running=0
    for s in "$@"; do
        "$s" start &
        if ((++running >= jobs)); then
            wait -n
            running=$((running - 1))
        fi
    done
    wait
}

# Kills every process started from PID files in $work/run (the benchmark's own).
kill_all() {
    local f
    for f in "$work"/run/*.pid; do
        if [ -f "$f" ]; then kill -KILL "$(cat "$f")" 2>/dev/null || true; fi
    done
    rm -f "$work"/run/*.pid
}

now() { date +%s.%N; }
elapsed() { echo "$2 - $1" | bc -l | xargs printf '%.2f'; }

mkdir -p "$work/run"
switch() {
    "$SWITCH" -p "$work/profiles/bench" --state-dir "$work/state" --runlevel 3 \
        --jobs "$jobs" --quiet "$@"
}

if part 1; then
echo "== cold start: 100 processes, 10 layers, ${ready}s readiness each, --jobs $jobs"
make_profile "$work/p100" 10 10
# Put the profile into the store first so both runs measure starting processes only.
store100=$(nix-store --add "$work/p100")

t0=$(now)
for s in "$store100"/etc/rc.d/rc3.d/S*; do "$s" start; done
t1=$(now)
seq_time=$(elapsed "$t0" "$t1")
for s in "$store100"/etc/rc.d/rc3.d/S*; do "$s" stop; done
echo "sequential loop over rc3.d/S*: ${seq_time}s"

t0=$(now)
switch "$store100"
t1=$(now)
par_time=$(elapsed "$t0" "$t1")
echo "nixproc-sysvinit-switch:       ${par_time}s"
running=$(find "$work/run" -mindepth 1 -maxdepth 1 -name '[!.]*' | wc -l)
echo "processes running:             $running"
echo "ratio:                         $(echo "$seq_time / $par_time" | bc -l | xargs printf '%.1f')x (target >= 8x, switch <= 2.5s)"
switch --undeploy
# The same with the default --jobs (the number of CPUs, at least 4).
t0=$(now)
"$SWITCH" -p "$work/profiles/bench" --state-dir "$work/state" --runlevel 3 --quiet "$store100"
t1=$(now)
echo "with the default --jobs:       $(elapsed "$t0" "$t1")s ($(nproc) CPUs)"
switch --undeploy
fi

if part 2; then
echo
echo "== redeploy: 200 processes, 1 changed"
make_profile "$work/p200a" 20 10
make_profile "$work/p200b" 20 10 l10p5
storea=$(nix-store --add "$work/p200a")
storeb=$(nix-store --add "$work/p200b")
t0=$(now)
switch "$storea"
t1=$(now)
echo "initial deploy of 200:         $(elapsed "$t0" "$t1")s"
t0=$(now)
"$storea/etc/rc.d/init.d/l10p5" stop
"$storea/etc/rc.d/init.d/l10p5" start
t1=$(now)
restart=$(elapsed "$t0" "$t1")
echo "one restart by hand:           ${restart}s"
t0=$(now)
switch "$storeb"
t1=$(now)
redeploy=$(elapsed "$t0" "$t1")
echo "redeploy (1 of 200 changed):   ${redeploy}s (overhead $(echo "$redeploy - $restart" | bc -l | xargs printf '%.2f')s)"
switch --dry-run "$storea" | tail -n 3
switch --undeploy
fi

if part 3; then
for n in $sizes; do
    echo
    echo "== scale: cold start of $n trivial processes in chains of 10, --jobs $jobs"
    make_chains "$work/chains$n" "$n"
    store=$(nix-store --add "$work/chains$n")
    t0=$(now)
    for ((i = 0; i < 10; i++)); do
        start_all "$store"/etc/rc.d/init.d/c*p$i
    done
    t1=$(now)
    floor=$(elapsed "$t0" "$t1")
    kill_all
    echo "floor: bare loop, $jobs at once:    ${floor}s"
    t0=$(now)
    switch --dry-run "$store" >/dev/null
    t1=$(now)
    planning=$(elapsed "$t0" "$t1")
    t0=$(now)
    switch "$store"
    t1=$(now)
    took=$(elapsed "$t0" "$t1")
    echo "nixproc-sysvinit-switch:        ${took}s ($(echo "$took / $floor" | bc -l | xargs printf '%.2f')x the floor; $(find "$work/run" -mindepth 1 -maxdepth 1 -name '[!.]*' | wc -l) running)"
    echo "  reading and planning alone:   ${planning}s (--dry-run of the same profile)"
    t0=$(now)
    switch --undeploy
    t1=$(now)
    echo "undeploy:                       $(elapsed "$t0" "$t1")s"
    kill_all
done
fi
