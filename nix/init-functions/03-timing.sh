# shellcheck shell=bash
# init-functions, timing: the clock in milliseconds, deadlines and the polling step.

# Reads the clock without a subshell (it runs in polling loops).
# Sets: _initfn_ms (the time in milliseconds since the epoch).
_initfn_clock() {
    local t=${EPOCHREALTIME//[.,]/}
    _initfn_ms=$((10#$t / 1000))
}

# Prints seconds ("10", "0.5", "2.25") as milliseconds.
# Sets: nothing.
# Returns: 0, or 1 (printing nothing) for anything but a number of seconds.
_initfn_secs_to_ms() {
    local s=$1 int frac
    [[ $s =~ ^([0-9]+)(\.([0-9]*))?$ ]] || return 1
    int=${BASH_REMATCH[1]}
    frac=${BASH_REMATCH[3]}000
    frac=${frac:0:3}
    printf '%s' "$((10#$int * 1000 + 10#$frac))"
}

# A deadline MS milliseconds from now.
# Sets: _initfn_deadline (that time, in milliseconds since the epoch), _initfn_ms.
_initfn_set_deadline() { # MS
    _initfn_clock
    _initfn_deadline=$((_initfn_ms + $1))
}

# The deadline of a start: STARTTIMEOUT seconds (default 30) from now.
# Sets: _initfn_deadline, _initfn_ms (as _initfn_set_deadline).
_initfn_start_deadline() {
    local ms
    ms=$(_initfn_secs_to_ms "${STARTTIMEOUT:-30}") || ms=30000
    _initfn_set_deadline "$ms"
}

# Whether the time has reached DEADLINE (milliseconds since the epoch).
# Sets: _initfn_ms (the time now).
# Returns: 0 when it has, 1 before.
_initfn_past() { # DEADLINE
    _initfn_clock
    [ "$_initfn_ms" -ge "$1" ]
}

# Sleeps one polling step. The first steps of a wait are shorter (a process that reacts
# promptly is seen at once); a wait starts with a local _initfn_step=0.
# Sets: _initfn_step (the steps of the current wait, one more).
_initfn_nap() {
    _initfn_step=$((${_initfn_step:-0} + 1))
    if [ -z "${POLLINTERVAL:-}" ] && [ "$_initfn_step" -le 3 ]; then
        sleep 0.002
    else
        sleep "${POLLINTERVAL:-0.01}"
    fi
}
