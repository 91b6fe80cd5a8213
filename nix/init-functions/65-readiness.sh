# shellcheck shell=bash
# init-functions, readiness: wait_ready.

# Waits until HOST:PORT accepts a connection and/or COMMAND succeeds, while the process
# of PIDFILE lives. That process is checked as the other functions check one: with
# PROGRAM (-x), it must run PROGRAM as USER (else the caller) from a trusted PID file
# (see _initfn_lookup); without, the PID file must be trusted and name a live process of
# USER. With SERVICE (-s), a service that still has live processes counts as living.
# Sets: nothing.
# Returns: 0 ready, 1 the process is gone (or its PID file untrusted) or the timeout
# passed, 2 bad usage.
wait_ready() { # -p PIDFILE [-u USER] [-x PROGRAM] [-s SERVICE] [-t TIMEOUT] (-P PORT [-H HOST] | -c COMMAND)
    local - IFS=$' \t\n'
    set +e +u
    local pidfile='' user='' program='' service='' timeout=${READYTIMEOUT:-30} port=''
    local host=127.0.0.1 command='' _initfn_shift _initfn_uid
    _initfn_getopts wait_ready 'p:pidfile u:user x:program s:service t:timeout P:port H:host c:command' "$@" || return 2
    if [ -z "$port" ] && [ -z "$command" ]; then
        _initfn_err "usage: wait_ready -p PIDFILE [-u USER] [-x PROGRAM] [-s SERVICE] [-t TIMEOUT] (-P PORT [-H HOST] | -c COMMAND)"
        return 2
    fi
    if [ -n "$port" ] && ! [[ $port =~ ^[0-9]+$ ]]; then
        _initfn_err "wait_ready: the port must be a number, got '$port'"
        return 2
    fi
    if [ -n "$service" ]; then _initfn_service_ok wait_ready "$service" || return 2; fi
    _initfn_expect_uid "$user" || return 2
    local _initfn_msecs _initfn_deadline _initfn_ms _initfn_step=0
    _initfn_secs_to_ms "$timeout" || {
        _initfn_err "wait_ready: the timeout must be a number of seconds, got '$timeout'"
        return 2
    }
    _initfn_set_deadline "$_initfn_msecs"
    while :; do
        _initfn_ready_alive || return 1
        if [ -n "$port" ]; then
            if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
                [ -z "$command" ] && return 0
            fi
        fi
        if [ -n "$command" ] && { [ -z "$port" ] || (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; }; then
            (eval "$command") </dev/null >/dev/null 2>&1 && return 0
        fi
        if _initfn_past "$_initfn_deadline"; then
            _initfn_err "wait_ready: not ready after $timeout s${port:+ (port $host:$port)}${command:+ (command: $command)}"
            return 1
        fi
        _initfn_nap
    done
}

# Whether the process wait_ready waits for still lives (see wait_ready; reads its
# pidfile, program, service and _initfn_uid).
# Sets: nothing.
# Returns: 0 alive (or no PID file to watch), 1 gone or untrusted (reported).
_initfn_ready_alive() {
    [ -n "$pidfile" ] || return 0
    local -a _initfn_found=() _initfn_pids=()
    local _initfn_pidfile_used='' pid
    if [ -n "$program" ]; then
        _initfn_service_lookup "$pidfile" "$service" "$program" "$_initfn_uid" && return 0
    elif [ -e "$pidfile" ] && _initfn_pidfile_trusted "$pidfile" "$_initfn_uid"; then
        _initfn_read_pids "$pidfile"
        for pid in "${_initfn_pids[@]}"; do
            _initfn_alive "$pid" && _initfn_runs_as "$pid" "$_initfn_uid" && return 0
        done
    fi
    _initfn_err "wait_ready: the process of $pidfile is not running"
    return 1
}
