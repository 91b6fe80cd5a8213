# shellcheck shell=bash
# init-functions, status: pidofproc and statusproc.

# Parses "-p PIDFILE -u USER" for pidofproc/statusproc (callers declare the variables
# it sets local).
# Sets: _initfn_opt_pidfile (-p or empty), _initfn_uid (as _initfn_expect_uid),
# _initfn_shift (the number of arguments consumed).
# Returns: 0, 2 bad options (with a message), 3 USER does not exist (then nothing can
# run as USER).
_initfn_parse_p() { # ARGS...
    _initfn_opt_pidfile=
    _initfn_shift=0
    local user=''
    _initfn_getopts "${FUNCNAME[1]}" 'p:_initfn_opt_pidfile u:user' "$@" || return 2
    _initfn_expect_uid "$user" 2>/dev/null || return 3
}

# Prints the verified PIDs of PROGRAM on one line.
# Sets: nothing.
# Returns: 0 running, 1 dead with a PID file, 3 not running (or no such USER), 4 an
# untrusted PID file or bad usage.
pidofproc() { # [-p PIDFILE] [-u USER] PROGRAM
    local - IFS=$' \t\n'
    set +e +u
    local -a _initfn_found=()
    local _initfn_pidfile_used='' _initfn_opt_pidfile='' _initfn_shift=0 _initfn_uid='' rc
    _initfn_parse_p "$@"
    rc=$?
    [ "$rc" -eq 0 ] || { [ "$rc" -eq 3 ] && return 3; return 4; }
    shift "$_initfn_shift"
    if [ $# -lt 1 ]; then
        _initfn_err "usage: pidofproc [-p PIDFILE] [-u USER] PROGRAM"
        return 4
    fi
    _initfn_lookup "$_initfn_opt_pidfile" "$1" "$_initfn_uid"
    rc=$?
    [ "$rc" -eq 0 ] && printf '%s\n' "${_initfn_found[*]}"
    return "$rc"
}

# Prints the state of PROGRAM (named after the PID file, else the program).
# Sets: nothing.
# Returns: as pidofproc.
statusproc() { # [-p PIDFILE] [-u USER] PROGRAM
    local - IFS=$' \t\n'
    set +e +u
    local -a _initfn_found=()
    local _initfn_pidfile_used='' _initfn_opt_pidfile='' _initfn_shift=0 _initfn_uid='' rc name
    _initfn_parse_p "$@"
    rc=$?
    [ "$rc" -eq 0 ] || [ "$rc" -eq 3 ] || return 4
    local no_user=$rc
    shift "$_initfn_shift"
    if [ $# -lt 1 ]; then
        _initfn_err "usage: statusproc [-p PIDFILE] [-u USER] PROGRAM"
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
    _initfn_lookup "$_initfn_opt_pidfile" "$1" "$_initfn_uid"
    rc=$?
    case $rc in
    0) printf '%s is running with PID %s\n' "$name" "${_initfn_found[*]}" ;;
    1) printf '%s is not running, but the PID file %s exists\n' "$name" "$_initfn_pidfile_used" ;;
    3) printf '%s is not running\n' "$name" ;;
    *) printf '%s: status unknown (untrusted PID file %s)\n' "$name" "$_initfn_pidfile_used" ;;
    esac
    return "$rc"
}
