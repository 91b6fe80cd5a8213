#!/bin/bash
# Restart latency of a process that exits promptly on TERM: our restart (stop, which
# returns as soon as the process is gone, then start, which returns as soon as it is up)
# against the "stop; sleep 1; start" restart of older generators; and the cost of one
# `status` against a bare `bash -c 'exit 0'`.
#
# Usage: bench/restart-latency.sh [REPETITIONS]        (default 15; run as root)
#
# Environment:
#   WEBAPP      a built example web server (default: cargo build --release --example webapp)
#   SUPERVISOR  nixproc-sysvinit-supervise (default: cargo build --release --bins)
#   DAEMON      the libslack daemon program (default: daemon from PATH)
#
# Processes measured (each as a service, -s: in a cgroup of its own where root has
# cgroup v2, else marked in its environment):
#   webapp      the example HTTP server, a foreground program under the supervisor
#               (with cgroups, and with NIXPROC_CGROUPS=0 for what cgroups cost)
#   webapp (libslack daemon)  the same under libslack daemon
#   nginx       Debian's nginx as a self-daemonizing process (skipped if not installed)
# Each restart is timed around the init script's `restart` activity, including the
# shell start-up and the sourcing of the library. The library is assembled as
# nix/init-functions.nix does it: the part scripts source, and the stop and start parts
# it reads when a stop or start function is first called. The table shows medians.
set -u

reps=${1:-15}
if ! [[ $reps =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: $0 [REPETITIONS]" >&2
    exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")

if [ -z "${WEBAPP:-}" ] || [ -z "${SUPERVISOR:-}" ]; then
    (cd "$repo" && cargo build --quiet --release --bins --example webapp) || {
        echo "building failed; set WEBAPP and SUPERVISOR to built binaries" >&2
        exit 1
    }
    WEBAPP=${WEBAPP:-"${CARGO_TARGET_DIR:-$repo/target}/release/examples/webapp"}
    SUPERVISOR=${SUPERVISOR:-"${CARGO_TARGET_DIR:-$repo/target}/release/nixproc-sysvinit-supervise"}
fi
[ -x "$WEBAPP" ] || {
    echo "no webapp program at $WEBAPP" >&2
    exit 1
}
DAEMON=${DAEMON:-daemon}

work=$(mktemp -d /tmp/restart-latency.XXXXXX)
chmod 755 "$work"
mkdir -p "$work/run" "$work/log" "$work/nginx/logs" "$work/nginx/tmp"
scripts=()

cleanup() {
    local s
    for s in "${scripts[@]}"; do
        "$s" stop >/dev/null 2>&1
    done
    rm -rf -- "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

quote() { printf "'%s'" "${1//\'/\'\\\'\'}"; }

# The library as nix/init-functions.nix assembles it: parts 50 to 59 the stop part, 60
# and up the start part, the others (in the order of their numbers) the file scripts
# source.
cat "$repo"/nix/init-functions/5[0-9]-*.sh >"$work/init-functions-stop"
cat "$repo"/nix/init-functions/[6-9][0-9]-*.sh >"$work/init-functions-start"
cat "$repo"/nix/init-functions/[0-4][0-9]-*.sh |
    sed -e "s|'@runtimeDir@'|$(quote "$work/run")|" -e "s|'@basePath@'|''|" \
        -e "s|'@daemon@'|''|" -e "s|'@stopPart@'|$(quote "$work/init-functions-stop")|" \
        -e "s|'@startPart@'|$(quote "$work/init-functions-start")|" \
        -e "s|'@supervisor@'|$(quote "$SUPERVISOR")|" \
        >"$work/init-functions"

free_port() {
    local port
    while :; do
        port=$((20000 + RANDOM % 20000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            printf '%s' "$port"
            return
        fi
    done
}

# make_script NAME RESTART-BODY START STOP [STATUS]
make_script() {
    local path="$work/init.d/$1"
    mkdir -p "$work/init.d"
    cat >"$path" <<EOF
#!/bin/bash
. $(quote "$work/init-functions")
export PORT=$webapp_port
case "\$1" in
start)
$3
;;
stop)
$4
;;
status)
${5:-:}
;;
restart)
$2
;;
esac
EOF
    chmod 755 "$path"
    scripts+=("$path")
    printf '%s' "$path"
}

# shellcheck disable=SC2016 # "$0" is expanded by the generated script
ours='"$0" stop
"$0" start'
# shellcheck disable=SC2016
older='"$0" stop
sleep 1
"$0" start'

webapp_port=$(free_port)
wpid="$work/run/webapp.pid"
service="bench-$$/webapp"
wstart="start_foreground -D $(quote "$SUPERVISOR") -p $(quote "$wpid") -o $(quote "$work/log/webapp.log") -s $service -- $(quote "$WEBAPP")"
wready="$wstart && wait_ready -p $(quote "$wpid") -x $(quote "$SUPERVISOR") -s $service -P $webapp_port"
wstop="killproc -p $(quote "$wpid") -s $service $(quote "$SUPERVISOR")"
wstatus="statusproc -p $(quote "$wpid") -s $service $(quote "$SUPERVISOR")"
lstart="start_foreground -D $(quote "$DAEMON") -p $(quote "$wpid") -o $(quote "$work/log/webapp.log") -s $service -- $(quote "$WEBAPP")"
lstop="killproc -p $(quote "$wpid") -s $service $(quote "$DAEMON")"

have_nginx=0
if [ -x /usr/sbin/nginx ]; then
    have_nginx=1
    nport=$(free_port)
    npid="$work/run/nginx.pid"
    cat >"$work/nginx/nginx.conf" <<EOF
daemon on;
pid $npid;
error_log $work/nginx/logs/error.log;
worker_processes 1;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path $work/nginx/tmp;
  proxy_temp_path $work/nginx/tmp;
  fastcgi_temp_path $work/nginx/tmp;
  uwsgi_temp_path $work/nginx/tmp;
  scgi_temp_path $work/nginx/tmp;
  server { listen 127.0.0.1:$nport; location / { return 200 "ok\n"; } }
}
EOF
    nstart="start_daemon -p $(quote "$npid") -s bench-$$/nginx /usr/sbin/nginx -c $(quote "$work/nginx/nginx.conf") -p $(quote "$work/nginx")"
    nstop="killproc -p $(quote "$npid") -s bench-$$/nginx /usr/sbin/nginx"
fi

# time_restart SCRIPT → prints seconds; fails when the process is not up afterwards.
time_restart() {
    local t0 t1
    t0=$EPOCHREALTIME
    "$1" restart >/dev/null 2>&1 || return 1
    t1=$EPOCHREALTIME
    printf '%s' "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }')"
}

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.4f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# measure SCRIPT → median seconds over $reps restarts
measure() {
    local script=$1 i t
    "$script" start >/dev/null 2>&1 || {
        echo "start of $script failed" >&2
        return 1
    }
    for ((i = 0; i < reps; i++)); do
        t=$(time_restart "$script") || {
            echo "restart of $script failed" >&2
            return 1
        }
        printf '%s\n' "$t"
    done | median
    "$script" stop >/dev/null 2>&1
}

rows=()
run_case() { # LABEL START STOP
    local label=$1 start=$2 stop=$3 ours_s older_s
    ours_s=$(measure "$(make_script "case${#rows[@]}-ours" "$ours" "$start" "$stop")") || exit 1
    older_s=$(measure "$(make_script "case${#rows[@]}-older" "$older" "$start" "$stop")") || exit 1
    rows+=("$(awk -v l="$label" -v o="$ours_s" -v s="$older_s" \
        'BEGIN { printf "%-34s %10.3f %14.3f %9.1fx", l, o, s, s / o }')")
}

run_case "webapp (supervised)" "$wstart" "$wstop"
run_case "webapp (supervised) + ready" "$wready" "$wstop"
NIXPROC_CGROUPS=0 run_case "webapp (supervised), no cgroups" "$wstart" "$wstop"
run_case "webapp (libslack daemon)" "$lstart" "$lstop"
[ "$have_nginx" -eq 1 ] && run_case "nginx" "$nstart" "$nstop"

echo "restart latency, median of $reps restarts, in seconds"
printf '%-34s %10s %14s %10s\n' "process" "ours" "stop;sleep 1" "speed-up"
printf '%s\n' "${rows[@]}"

# status of a running process: the generated script's status against bare bash.
status_script=$(make_script status-webapp "$ours" "$wstart" "$wstop" "$wstatus")
"$status_script" start >/dev/null 2>&1 || {
    echo "start for the status measurement failed" >&2
    exit 1
}
time_runs() { # N COMMAND... -> median seconds of one run
    local n=$1 i t0 t1
    shift
    for ((i = 0; i < n; i++)); do
        t0=$EPOCHREALTIME
        "$@" >/dev/null 2>&1
        t1=$EPOCHREALTIME
        awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.5f\n", b - a }'
    done | median
}
n=$((reps * 10))
s_status=$(time_runs "$n" "$status_script" status)
s_bare=$(time_runs "$n" bash -c 'exit 0')
"$status_script" stop >/dev/null 2>&1
echo
echo "status of a running supervised webapp, median of $n runs, in seconds"
awk -v s="$s_status" -v b="$s_bare" 'BEGIN {
    printf "%-34s %10.4f\n%-34s %10.4f\n%-34s %9.1fx\n", "status", s, "bash -c exit 0", b, "ratio", s / b }'
