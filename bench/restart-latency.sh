#!/bin/bash
# Restart latency of a process that exits promptly on TERM: our restart (stop, which
# returns as soon as the process is gone, then start, which returns as soon as it is up)
# against the "stop; sleep 1; start" restart of older generators.
#
# Usage: bench/restart-latency.sh [REPETITIONS]        (default 15; run as root)
#
# Environment:
#   WEBAPP   a built example web server (default: cargo build --release --example webapp)
#   DAEMON   the libslack daemon program (default: daemon from PATH)
#
# Processes measured:
#   webapp   the example HTTP server, a foreground program run under libslack daemon
#   nginx    Debian's nginx as a self-daemonizing process (skipped if not installed)
# Each restart is timed around the init script's `restart` activity, including the
# shell start-up and the sourcing of the library. The table shows medians.
set -u

reps=${1:-15}
if ! [[ $reps =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: $0 [REPETITIONS]" >&2
    exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")

if [ -z "${WEBAPP:-}" ]; then
    (cd "$repo" && cargo build --quiet --release --example webapp) || {
        echo "building the webapp example failed; set WEBAPP to a built binary" >&2
        exit 1
    }
    WEBAPP="${CARGO_TARGET_DIR:-$repo/target}/release/examples/webapp"
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

# The library as nix/init-functions.nix assembles it: its parts in the order of their numbers.
cat "$repo"/nix/init-functions/[0-9][0-9]-*.sh |
    sed -e "s|'@runtimeDir@'|$(quote "$work/run")|" -e "s|'@basePath@'|''|" \
        -e "s|'@daemon@'|''|" >"$work/init-functions"

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

# make_script NAME RESTART-BODY START STOP
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
wstart="start_foreground -D $(quote "$DAEMON") -p $(quote "$wpid") -o $(quote "$work/log/webapp.log") -- $(quote "$WEBAPP")"
wready="$wstart && wait_ready -p $(quote "$wpid") -P $webapp_port"
wstop="killproc -p $(quote "$wpid") $(quote "$DAEMON")"

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
    nstart="start_daemon -p $(quote "$npid") /usr/sbin/nginx -c $(quote "$work/nginx/nginx.conf") -p $(quote "$work/nginx")"
    nstop="killproc -p $(quote "$npid") /usr/sbin/nginx"
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
    ours_s=$(measure "$(make_script "$label-ours" "$ours" "$start" "$stop")") || exit 1
    older_s=$(measure "$(make_script "$label-older" "$older" "$start" "$stop")") || exit 1
    rows+=("$(awk -v l="$label" -v o="$ours_s" -v s="$older_s" \
        'BEGIN { printf "%-28s %10.3f %14.3f %9.1fx", l, o, s, s / o }')")
}

run_case "webapp (daemon)" "$wstart" "$wstop"
run_case "webapp (daemon) + ready" "$wready" "$wstop"
[ "$have_nginx" -eq 1 ] && run_case "nginx" "$nstart" "$nstop"

echo "restart latency, median of $reps restarts, in seconds"
printf '%-28s %10s %14s %10s\n' "process" "ours" "stop;sleep 1" "speed-up"
printf '%s\n' "${rows[@]}"
