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

# Sends SIGNAL, or stops PROGRAM: TERM, KILL after DELAY, then its PID files go.
# Sets: nothing.
# Returns: 0 done (or not running, without SIGNAL), 1 failed (still running after KILL,
# or its user could not be looked up), 2 bad usage, 4 untrusted PID file, 7 SIGNAL asked
# for but PROGRAM is not running.
killproc() { # [-p PIDFILE] [-u USER] [-d DELAY] PROGRAM [SIGNAL]
    local - IFS=$' \t\n'
    set +e +u
    local -a _initfn_found=()
    local _initfn_pidfile_used='' pidfile='' user='' delay=${KILLDELAY:-10} _initfn_shift rc
    _initfn_getopts killproc 'p:pidfile d:delay u:user' "$@" || return 2
    shift "$_initfn_shift"
    if [ $# -lt 1 ] || [ $# -gt 2 ]; then
        _initfn_err "usage: killproc [-p PIDFILE] [-u USER] [-d DELAY] PROGRAM [SIGNAL]"
        return 2
    fi
    local _initfn_uid program=$1 signal=''
    if ! _initfn_expect_uid "$user" 2>/dev/null; then
        # Nothing runs as an account that does not exist (any more); but only the account
        # database can say that it does not: a look-up that failed proves nothing.
        if _initfn_user_absent "$user"; then
            _initfn_err "killproc: ${program##*/} is not running: its user '$user' does not exist"
            [ $# -eq 2 ] && return 7
            return 0
        fi
        _initfn_err "killproc: cannot tell whether ${program##*/} runs: the user '$user' could not be looked up"
        return 1
    fi
    if [ $# -eq 2 ]; then
        signal=$(_initfn_signal "$2") || {
            _initfn_err "killproc: unknown signal $2"
            return 2
        }
    fi
    local delay_ms
    delay_ms=$(_initfn_secs_to_ms "$delay") || {
        _initfn_err "killproc: the delay must be a number of seconds, got '$delay'"
        return 2
    }

    _initfn_lookup "$pidfile" "$program" "$_initfn_uid"
    rc=$?
    if [ "$rc" -eq 4 ]; then
        _initfn_err "killproc: not signalling ${program##*/}: untrusted PID file $_initfn_pidfile_used"
        return 4
    fi
    if [ "$rc" -ne 0 ]; then
        if [ -n "$signal" ]; then
            _initfn_err "${program##*/} is not running"
            return 7
        fi
        # Stopping a stopped program succeeds; a stale or foreign PID file goes.
        if [ -n "$_initfn_pidfile_used" ] && [ -e "$_initfn_pidfile_used" ]; then
            rm -f -- "$_initfn_pidfile_used"
        fi
        return 0
    fi

    if [ -n "$signal" ]; then
        kill -s "$signal" "${_initfn_found[@]}" 2>/dev/null
        return $?
    fi

    # Track each process with its start time so that a PID reused while we wait is
    # never signalled; for a daemon wrapper also track its client.
    local -a tracked=() clients=()
    local pid clientfile='' cpid _initfn_start=''
    for pid in "${_initfn_found[@]}"; do
        _initfn_starttime "$pid" || continue
        tracked+=("$pid:$_initfn_start")
    done
    if [ -n "$_initfn_pidfile_used" ]; then
        clientfile=${_initfn_pidfile_used%.pid}.clientpid
        if [ "$clientfile" != "$_initfn_pidfile_used" ] && [ -r "$clientfile" ]; then
            local -a _initfn_pids=()
            _initfn_read_pids "$clientfile"
            for cpid in "${_initfn_pids[@]}"; do
                for pid in "${_initfn_found[@]}"; do
                    if _initfn_child_of "$cpid" "$pid"; then
                        _initfn_starttime "$cpid" && clients+=("$cpid:$_initfn_start")
                    fi
                done
            done
        fi
    fi

    kill -s TERM "${_initfn_found[@]}" 2>/dev/null
    local _initfn_ms _initfn_step=0
    _initfn_clock
    if ! _initfn_wait_gone "$((_initfn_ms + delay_ms))" "${tracked[@]}" "${clients[@]}"; then
        local entry
        for entry in "${clients[@]}" "${tracked[@]}"; do
            if _initfn_alive "${entry%%:*}" "${entry#*:}"; then
                kill -s KILL "${entry%%:*}" 2>/dev/null
            fi
        done
        _initfn_clock
        _initfn_step=0
        if ! _initfn_wait_gone "$((_initfn_ms + 5000))" "${tracked[@]}" "${clients[@]}"; then
            _initfn_err "killproc: ${program##*/} is still running after KILL"
            return 1
        fi
    fi

    # Remove the PID files unless they now name another process.
    if [ -n "$_initfn_pidfile_used" ] && [ -e "$_initfn_pidfile_used" ]; then
        _initfn_pidfile_alive "$_initfn_pidfile_used" || rm -f -- "$_initfn_pidfile_used"
    fi
    if [ -n "$clientfile" ] && [ -e "$clientfile" ] && [ "$clientfile" != "$_initfn_pidfile_used" ]; then
        _initfn_pidfile_alive "$clientfile" || rm -f -- "$clientfile"
    fi
    return 0
}
