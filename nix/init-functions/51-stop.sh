# shellcheck shell=bash
# init-functions, stop: killproc.

# Prints a signal given as -HUP, HUP, SIGHUP, -SIGHUP or -1 as kill -s accepts it.
# Sets: nothing.
# Returns: 0, or 1 for an unknown signal.
_initfn_signal() { # SIGNAL
    local s=${1#-}
    s=${s#SIG}
    s=${s#sig}
    [ -n "$s" ] || return 1
    if [[ $s =~ ^[0-9]+$ ]]; then
        s=$(kill -l "$s" 2>/dev/null) || return 1
    fi
    kill -l "$s" >/dev/null 2>&1 || return 1
    printf '%s' "${s^^}"
}

# Waits until none of the tracked processes ("PID:STARTTIME" words) lives, or the
# deadline (ms since the epoch) passes (callers declare _initfn_ms and _initfn_step).
# Sets: _initfn_ms, _initfn_step (the polling clock).
# Returns: 0 when all are gone, 1 at the deadline.
_initfn_wait_gone() { # DEADLINE PID:STARTTIME...
    local deadline=$1 entry
    shift
    while :; do
        local alive=0
        for entry in "$@"; do
            if _initfn_alive "${entry%%:*}" "${entry#*:}"; then
                alive=1
                break
            fi
        done
        [ "$alive" -eq 0 ] && return 0
        _initfn_past "$deadline" && return 1
        _initfn_nap
    done
}

# Stops PROGRAM: its USER, SIGNAL and DELAY are checked; with SIGNAL, the signal goes to
# the verified process; without, the process (and a wrapper's client) gets TERM, KILL
# after DELAY, and its PID files go; then, with a service, whatever else it still has
# gets TERM and KILL (its main process gone or never found), see _initfn_service_stop.
# Sets: nothing.
# Returns: 0 done (or not running, without SIGNAL), 1 failed (still running after KILL,
# or its user could not be looked up), 2 bad usage, 4 untrusted PID file, 7 SIGNAL asked
# for but PROGRAM is not running.
killproc() { # [-p PIDFILE] [-u USER] [-d DELAY] [-s SERVICE] PROGRAM [SIGNAL]
    local - IFS=$' \t\n'
    set +e +u
    local -a _initfn_found=()
    local _initfn_pidfile_used='' pidfile='' user='' service='' delay=${KILLDELAY:-10}
    local _initfn_shift rc _initfn_uid signal='' delay_ms
    _initfn_getopts killproc 'p:pidfile d:delay u:user s:service' "$@" || return 2
    shift "$_initfn_shift"
    if [ $# -lt 1 ] || [ $# -gt 2 ]; then
        _initfn_err "usage: killproc [-p PIDFILE] [-u USER] [-d DELAY] [-s SERVICE] PROGRAM [SIGNAL]"
        return 2
    fi
    local program=$1
    _initfn_killproc_args "$@" || return
    _initfn_lookup "$pidfile" "$program" "$_initfn_uid"
    rc=$?
    if [ "$rc" -eq 4 ]; then
        _initfn_err "killproc: not signalling ${program##*/}: untrusted PID file $_initfn_pidfile_used"
        return 4
    fi
    if [ -n "$signal" ]; then
        if [ "$rc" -ne 0 ]; then
            _initfn_err "${program##*/} is not running"
            return 7
        fi
        kill -s "$signal" "${_initfn_found[@]}" 2>/dev/null
        return $?
    fi
    if [ "$rc" -eq 0 ]; then
        _initfn_stop_found || return 1
    elif [ -n "$_initfn_pidfile_used" ] && [ -e "$_initfn_pidfile_used" ]; then
        # Stopping a stopped program succeeds; a stale or foreign PID file goes.
        rm -f -- "$_initfn_pidfile_used"
    fi
    _initfn_killproc_service "$rc"
}

# Checks killproc's USER, SERVICE, SIGNAL and DELAY; a USER the account database does
# not know has nothing running (but its service's cgroup is still emptied).
# Sets: _initfn_uid, signal, delay_ms (killproc's).
# Returns: 0 go on; else the status killproc returns: 0 or 7 for an absent user, 1 for
# a user that could not be looked up, 2 for bad usage (all reported).
_initfn_killproc_args() { # PROGRAM [SIGNAL]
    if [ -n "$service" ]; then _initfn_service_ok killproc "$service" || return 2; fi
    if ! _initfn_expect_uid "$user" 2>/dev/null; then
        # Nothing runs as an account that does not exist (any more); but only the account
        # database can say that it does not: a look-up that failed proves nothing.
        if _initfn_user_absent "$user"; then
            _initfn_err "killproc: ${1##*/} is not running: its user '$user' does not exist"
            [ $# -eq 2 ] && return 7
            [ -z "$service" ] || _initfn_service_stop killproc "$service" '' 0 "of ${service#*/}"
            return 0
        fi
        _initfn_err "killproc: cannot tell whether ${1##*/} runs: the user '$user' could not be looked up"
        return 1
    fi
    if [ $# -eq 2 ]; then
        signal=$(_initfn_signal "$2") || {
            _initfn_err "killproc: unknown signal $2"
            return 2
        }
    fi
    local _initfn_msecs
    _initfn_secs_to_ms "$delay" || {
        _initfn_err "killproc: the delay must be a number of seconds, got '$delay'"
        return 2
    }
    delay_ms=$_initfn_msecs
}

# Stops the processes killproc found: TERM, KILL after delay_ms, each tracked with its
# start time (a PID reused meanwhile is never signalled), a wrapper's client too; then
# removes the PID files unless they name another process by now.
# Sets: nothing.
# Returns: 0, or 1 when they live on after KILL (reported).
_initfn_stop_found() {
    local -a tracked=() _initfn_pids=()
    local pid clientfile='' _initfn_start='' _initfn_ms _initfn_step=0 entry
    for pid in "${_initfn_found[@]}"; do
        _initfn_starttime "$pid" && tracked+=("$pid:$_initfn_start")
    done
    if [ -n "$_initfn_pidfile_used" ]; then
        clientfile=${_initfn_pidfile_used%.pid}.clientpid
        [ "$clientfile" != "$_initfn_pidfile_used" ] || clientfile=''
        _initfn_track_clients "$clientfile"
    fi
    kill -s TERM "${_initfn_found[@]}" 2>/dev/null
    _initfn_clock
    if ! _initfn_wait_gone "$((_initfn_ms + delay_ms))" "${tracked[@]}"; then
        for entry in "${tracked[@]}"; do
            _initfn_alive "${entry%%:*}" "${entry#*:}" && kill -s KILL "${entry%%:*}" 2>/dev/null
        done
        _initfn_clock
        _initfn_step=0
        if ! _initfn_wait_gone "$((_initfn_ms + 5000))" "${tracked[@]}"; then
            _initfn_err "killproc: ${program##*/} is still running after KILL"
            return 1
        fi
    fi
    for entry in "$_initfn_pidfile_used" "$clientfile"; do
        [ -n "$entry" ] && [ -e "$entry" ] && ! _initfn_pidfile_alive "$entry" && rm -f -- "$entry"
    done
    return 0
}

# Adds to tracked (the caller's) the clients in CLIENTFILE that are children of the
# found wrappers, with their start times.
# Sets: tracked, _initfn_pids, _initfn_start (the caller's).
_initfn_track_clients() { # CLIENTFILE
    local cpid pid
    [ -n "$1" ] && [ -r "$1" ] || return 0
    _initfn_read_pids "$1"
    for cpid in "${_initfn_pids[@]}"; do
        for pid in "${_initfn_found[@]}"; do
            _initfn_child_of "$cpid" "$pid" && _initfn_starttime "$cpid" &&
                tracked+=("$cpid:$_initfn_start")
        done
    done
}

# The end of a stop with a service: what it still has is stopped, after the whole
# DELAY when its PID file named nothing (LOOKUP-STATUS not 0), else after at most 2 s.
# Sets: nothing.
# Returns: 0, or 1 when processes live on after KILL (reported).
_initfn_killproc_service() { # LOOKUP-STATUS
    [ -n "$service" ] || return 0
    local grace=$delay_ms what="of ${service#*/} that its PID file did not name"
    if [ "$1" -eq 0 ]; then
        ((grace > 2000)) && grace=2000
        what="that ${service#*/} left behind"
    fi
    _initfn_service_stop killproc "$service" "$_initfn_uid" "$grace" "$what"
}
