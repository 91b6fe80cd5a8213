# shellcheck shell=bash
# init-functions: Status: pidofproc and statusproc.

# Parses "-p PIDFILE -u USER" for pidofproc/statusproc into _initfn_opt_pidfile and
# _initfn_uid; sets _initfn_shift to the number of arguments consumed. Returns 2 for bad
# options, 3 when USER does not exist (then nothing can run as USER).
_initfn_parse_p() {
    _initfn_opt_pidfile=
    _initfn_shift=0
    local OPTIND=1 opt user=''
    while getopts ':p:u:' opt; do
        case $opt in
        p) _initfn_opt_pidfile=$OPTARG ;;
        u) user=$OPTARG ;;
        *)
            _initfn_opt_error "${FUNCNAME[1]}" "$opt" "$OPTARG"
            return 2
            ;;
        esac
    done
    _initfn_shift=$((OPTIND - 1))
    _initfn_expect_uid "$user" 2>/dev/null || return 3
}

pidofproc() {
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

statusproc() {
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
