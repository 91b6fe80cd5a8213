# shellcheck shell=bash
# init-functions, timing: the clock in milliseconds, deadlines and the polling step.

# Reads the clock without a subshell (it runs in polling loops).
# Sets: _initfn_ms (the time in milliseconds since the epoch).
_initfn_clock() {
    local t=${EPOCHREALTIME//[.,]/}
    _initfn_ms=$((10#$t / 1000))
}

# Seconds ("10", "0.5", "2.25") as milliseconds, without a subshell.
# Sets: _initfn_msecs (the milliseconds; callers declare it).
# Returns: 0, or 1 for anything but a number of seconds.
_initfn_secs_to_ms() {
    local s=$1 int frac
    [[ $s =~ ^([0-9]+)(\.([0-9]*))?$ ]] || return 1
    int=${BASH_REMATCH[1]}
    frac=${BASH_REMATCH[3]}000
    frac=${frac:0:3}
    _initfn_msecs=$((10#$int * 1000 + 10#$frac))
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
    local _initfn_msecs=30000
    _initfn_secs_to_ms "${STARTTIMEOUT:-30}" && ms=$_initfn_msecs || ms=30000
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
    local step=${POLLINTERVAL:-0.01}
    [ -z "${POLLINTERVAL:-}" ] && [ "$_initfn_step" -le 3 ] && step=0.002
    # A read that times out on a terminal's master side, which never has input, waits
    # without starting a program; without /dev/ptmx, sleep does it.
    if [ -z "${_initfn_nap_fd:-}" ]; then
        { exec {_initfn_nap_fd}<>/dev/ptmx; } 2>/dev/null || _initfn_nap_fd=none
    fi
    if [ "$_initfn_nap_fd" = none ]; then
        sleep "$step"
    else
        read -r -t "$step" -u "$_initfn_nap_fd" _
    fi
    return 0
}

# Closes the descriptor _initfn_nap waits on, so that a command started next does not
# inherit it.
# Sets: _initfn_nap_fd (unset).
_initfn_nap_close() {
    if [ -n "${_initfn_nap_fd:-}" ] && [ "$_initfn_nap_fd" != none ]; then
        exec {_initfn_nap_fd}>&-
    fi
    unset _initfn_nap_fd
}
