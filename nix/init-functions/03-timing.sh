# shellcheck shell=bash
# init-functions: Time and polling: the clock in milliseconds, deadlines and the polling step.

# Sets _initfn_ms to the time in milliseconds (no subshell: it runs in polling loops).
_initfn_clock() {
    local t=${EPOCHREALTIME//[.,]/}
    _initfn_ms=$((10#$t / 1000))
}

# Converts seconds ("10", "0.5", "2.25") to milliseconds; fails on anything else.
_initfn_secs_to_ms() {
    local s=$1 int frac
    [[ $s =~ ^([0-9]+)(\.([0-9]*))?$ ]] || return 1
    int=${BASH_REMATCH[1]}
    frac=${BASH_REMATCH[3]}000
    frac=${frac:0:3}
    printf '%s' "$((10#$int * 1000 + 10#$frac))"
}

# Sets _initfn_deadline to the time in milliseconds MS milliseconds from now.
_initfn_set_deadline() {
    _initfn_clock
    _initfn_deadline=$((_initfn_ms + $1))
}

# Sets _initfn_deadline to STARTTIMEOUT seconds (default 30) from now.
_initfn_start_deadline() {
    local ms
    ms=$(_initfn_secs_to_ms "${STARTTIMEOUT:-30}") || ms=30000
    _initfn_set_deadline "$ms"
}

# True when the time in milliseconds has reached DEADLINE (also updates _initfn_ms).
_initfn_past() {
    _initfn_clock
    [ "$_initfn_ms" -ge "$1" ]
}

# Sleeps one polling step. The first steps of a wait are shorter (a process that reacts
# promptly is seen at once); _initfn_step counts the steps of the current wait.
_initfn_nap() {
    _initfn_step=$((${_initfn_step:-0} + 1))
    if [ -z "${POLLINTERVAL:-}" ] && [ "$_initfn_step" -le 3 ]; then
        sleep 0.002
    else
        sleep "${POLLINTERVAL:-0.01}"
    fi
}
