# shellcheck shell=bash
# init-functions, readiness: wait_ready.

# Waits until HOST:PORT accepts a connection and/or COMMAND succeeds, while the process
# of PIDFILE lives.
# Sets: nothing.
# Returns: 0 ready, 1 the process is gone or the timeout passed, 2 bad usage.
wait_ready() { # -p PIDFILE [-t TIMEOUT] (-P PORT [-H HOST] | -c COMMAND)
    local - IFS=$' \t\n'
    set +e +u
    local pidfile='' timeout=${READYTIMEOUT:-30} port='' host=127.0.0.1 command='' _initfn_shift
    _initfn_getopts wait_ready 'p:pidfile t:timeout P:port H:host c:command' "$@" || return 2
    if [ -z "$port" ] && [ -z "$command" ]; then
        _initfn_err "usage: wait_ready -p PIDFILE [-t TIMEOUT] (-P PORT [-H HOST] | -c COMMAND)"
        return 2
    fi
    if [ -n "$port" ] && ! [[ $port =~ ^[0-9]+$ ]]; then
        _initfn_err "wait_ready: the port must be a number, got '$port'"
        return 2
    fi
    local timeout_ms _initfn_deadline _initfn_ms _initfn_step=0
    timeout_ms=$(_initfn_secs_to_ms "$timeout") || {
        _initfn_err "wait_ready: the timeout must be a number of seconds, got '$timeout'"
        return 2
    }
    _initfn_set_deadline "$timeout_ms"
    while :; do
        if [ -n "$pidfile" ]; then
            if ! _initfn_pidfile_alive "$pidfile"; then
                _initfn_err "wait_ready: the process of $pidfile is not running"
                return 1
            fi
        fi
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
