# shellcheck shell=bash
# init-functions, status: pidofproc and statusproc.

# Parses "-p PIDFILE -u USER -s SERVICE" for pidofproc/statusproc (callers declare the
# variables it sets local).
# Sets: _initfn_opt_pidfile (-p or empty), _initfn_opt_service (-s or empty),
# _initfn_uid (as _initfn_expect_uid), _initfn_shift (the number of arguments consumed).
# Returns: 0, 2 bad options (with a message), 3 USER does not exist (then nothing can
# run as USER).
_initfn_parse_p() { # ARGS...
    _initfn_opt_pidfile=
    _initfn_opt_service=
    _initfn_shift=0
    local user=''
    _initfn_getopts "${FUNCNAME[1]}" 'p:_initfn_opt_pidfile u:user s:_initfn_opt_service' "$@" || return 2
    if [ -n "$_initfn_opt_service" ]; then
        _initfn_service_ok "${FUNCNAME[1]}" "$_initfn_opt_service" || return 2
    fi
    _initfn_expect_uid "$user" 2>/dev/null || return 3
}

# Reads the state file nixproc-sysvinit-supervise keeps next to its PID file
# (PIDFILE without .pid, then .state), when it is as trustworthy as a PID file of uid
# UID; never evaluated, read line by line.
# Sets: _initfn_sv (an associative array of its keys; empty when there is none).
# Returns: 0 read, 1 none (or untrusted).
_initfn_supervisor_state() { # PIDFILE UID
    local file=${1%.pid}.state key value
    _initfn_sv=()
    [ -n "$1" ] && [ "$file" != "$1.state" ] && [ -f "$file" ] || return 1
    _initfn_pidfile_trusted "$file" "$2" 2>/dev/null || return 1
    while IFS='=' read -r key value; do
        # Shown to whoever runs status: no control characters.
        [[ $key =~ ^[a-z_]+$ ]] && _initfn_sv[$key]=${value//[![:print:]]/?}
    done <"$file"
    return 0
}

# Prints the verified PIDs of PROGRAM on one line (with SERVICE, when its PID file names
# none: the service's live processes).
# Sets: nothing.
# Returns: 0 running, 1 dead with a PID file, 3 not running (or no such USER), 4 an
# untrusted PID file or bad usage.
pidofproc() { # [-p PIDFILE] [-u USER] PROGRAM
    local - IFS=$' \t\n'
    set +e +u
    local -a _initfn_found=()
    local _initfn_pidfile_used='' _initfn_opt_pidfile='' _initfn_opt_service='' _initfn_shift=0
    local _initfn_uid='' rc
    _initfn_parse_p "$@"
    rc=$?
    [ "$rc" -eq 0 ] || { [ "$rc" -eq 3 ] && return 3; return 4; }
    shift "$_initfn_shift"
    if [ $# -lt 1 ]; then
        _initfn_err "usage: pidofproc [-p PIDFILE] [-u USER] [-s SERVICE] PROGRAM"
        return 4
    fi
    _initfn_service_lookup "$_initfn_opt_pidfile" "$_initfn_opt_service" "$1" "$_initfn_uid"
    rc=$?
    [ "$rc" -eq 0 ] && printf '%s\n' "${_initfn_found[*]}"
    return "$rc"
}

# Prints the state of PROGRAM (named after the PID file, else the program): running
# (with SERVICE also when only its other processes live), not running, or for a
# supervised process the supervisor's account of why it is not (failed: gave up after
# its respawns; exited).
# Sets: nothing.
# Returns: as pidofproc.
statusproc() { # [-p PIDFILE] [-u USER] [-s SERVICE] PROGRAM
    local - IFS=$' \t\n'
    set +e +u
    local -a _initfn_found=()
    local _initfn_pidfile_used='' _initfn_opt_pidfile='' _initfn_opt_service='' _initfn_shift=0
    local _initfn_uid='' rc name
    _initfn_parse_p "$@"
    rc=$?
    [ "$rc" -eq 0 ] || [ "$rc" -eq 3 ] || return 4
    local no_user=$rc
    shift "$_initfn_shift"
    if [ $# -lt 1 ]; then
        _initfn_err "usage: statusproc [-p PIDFILE] [-u USER] [-s SERVICE] PROGRAM"
        return 4
    fi
    if [ -n "$_initfn_opt_pidfile" ]; then
        name=${_initfn_opt_pidfile##*/}
        name=${name%.pid}
    else
        name=${1##*/}
    fi
    if [ "$no_user" -eq 3 ]; then
        printf '%s is not running (its user does not exist)\n' "$name"
        return 3
    fi
    _initfn_service_lookup "$_initfn_opt_pidfile" "$_initfn_opt_service" "$1" "$_initfn_uid"
    rc=$?
    case $rc in
    0)
        printf '%s is running with PID %s\n' "$name" "${_initfn_found[*]}"
        _initfn_status_log_trouble "$name"
        ;;
    1 | 3) _initfn_status_stopped "$name" "$rc" ;;
    *) printf '%s: status unknown (untrusted PID file %s)\n' "$name" "$_initfn_pidfile_used" ;;
    esac
    return "$rc"
}

# Adds a line when the supervisor of a running NAME reports that its log cannot be
# written (a full disk): the service runs on, its output is lost. The state file is read
# only when the PID file's directory passed the lookup's checks, and only its log_error
# and log_dropped lines (nothing is started for it: status runs often).
# Sets: nothing.
_initfn_status_log_trouble() { # NAME
    [ -n "$_initfn_pidfile_used" ] || return 0
    local file=${_initfn_pidfile_used%.pid}.state key value error='' dropped=0
    [ "$file" != "$_initfn_pidfile_used.state" ] && [ -f "$file" ] && ! [ -L "$file" ] || return 0
    while IFS='=' read -r key value; do
        case $key in
        log_error) error=${value//[![:print:]]/?} ;;
        log_dropped) [[ $value =~ ^[0-9]+$ ]] && dropped=$value ;;
        esac
    done <"$file" 2>/dev/null
    [ -n "$error" ] && printf '%s: warning: its log cannot be written (%s); %s bytes of output lost\n' \
        "$1" "$error" "$dropped"
    return 0
}

# Prints why NAME is not running (LOOKUP-STATUS 1: its PID file is stale, 3: none),
# with the supervisor's account when it left one.
# Sets: nothing.
_initfn_status_stopped() { # NAME LOOKUP-STATUS
    local -A _initfn_sv=()
    local why=''
    if _initfn_supervisor_state "$_initfn_opt_pidfile" "$_initfn_uid"; then
        case ${_initfn_sv[state]} in
        failed) why="failed: ${_initfn_sv[reason]:-it gave up}" ;;
        exited) why="exited${_initfn_sv[last_exit]:+ (${_initfn_sv[last_exit]})}" ;;
        esac
        [ -n "$why" ] && [ -n "${_initfn_sv[respawns]}" ] && [ "${_initfn_sv[respawns]}" != 0 ] &&
            why+=" after ${_initfn_sv[respawns]} restarts"
    fi
    if [ -n "$why" ]; then
        printf '%s is not running: %s\n' "$1" "$why"
    elif [ "$2" -eq 1 ]; then
        printf '%s is not running, but the PID file %s exists\n' "$1" "$_initfn_pidfile_used"
    else
        printf '%s is not running\n' "$1"
    fi
}
