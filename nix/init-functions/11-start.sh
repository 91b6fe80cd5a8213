# shellcheck shell=bash
# init-functions: Starting a self-daemonizing program: start_daemon (alias loadproc).

# Checks the options common to the start functions: NICE must be an integer, USER must
# exist. Arguments: FUNCTION NICE USER PROGRAM; returns 2 after an error message.
_initfn_check_nice_user() {
    if [ -n "$2" ] && ! [[ $2 =~ ^-?[0-9]+$ ]]; then
        _initfn_err "$1: the nice level must be an integer, got '$2'"
        return 2
    fi
    if [ -n "$3" ] && ! _initfn_user_ok "$3"; then
        _initfn_err "$1: unknown user '$3' for ${4##*/}"
        return 2
    fi
}

# Sets _initfn_path to PROGRAM located (see _initfn_locate); true when that is an
# executable file.
_initfn_executable() {
    _initfn_locate "$1"
    [ -x "$_initfn_path" ] && ! [ -d "$_initfn_path" ]
}

start_daemon() {
    local - IFS=$' \t\n'
    set +e +u
    local force=0 nice='' pidfile='' user='' OPTIND=1 opt
    while getopts ':fn:p:u:' opt; do
        case $opt in
        f) force=1 ;;
        n) nice=$OPTARG ;;
        p) pidfile=$OPTARG ;;
        u) user=$OPTARG ;;
        *)
            _initfn_opt_error start_daemon "$opt" "$OPTARG"
            return 2
            ;;
        esac
    done
    shift $((OPTIND - 1))
    [ "${1:-}" = "--" ] && shift
    if [ $# -lt 1 ]; then
        _initfn_err "usage: start_daemon [-f] [-n NICE] [-p PIDFILE] [-u USER] PROGRAM [ARGS...]"
        return 2
    fi
    local program=$1 rc
    shift
    _initfn_check_nice_user start_daemon "$nice" "$user" "$program" || return 2
    local -a _initfn_found=()
    local _initfn_pidfile_used='' _initfn_uid
    _initfn_expect_uid "$user" || return 2
    _initfn_lookup "$pidfile" "$program" "$_initfn_uid"
    rc=$?
    if [ "$rc" -eq 0 ] && [ "$force" -eq 0 ]; then
        return 0
    fi
    # With -f over a running copy, only a process that was not there before counts.
    local -a before=()
    [ "$rc" -eq 0 ] && before=("${_initfn_found[@]}")
    if [ "$rc" -eq 4 ]; then
        _initfn_err "start_daemon: not starting ${program##*/}: untrusted PID file $_initfn_pidfile_used"
        return 1
    fi
    if [ "$rc" -ne 0 ] && [ -n "$_initfn_pidfile_used" ] && [ -e "$_initfn_pidfile_used" ]; then
        rm -f -- "$_initfn_pidfile_used"
    fi
    local _initfn_path
    if ! _initfn_executable "$program"; then
        _initfn_err "start_daemon: ${program} is not an executable program"
        return 5
    fi
    # The program writes its PID file as USER: the directory must be USER's.
    if [ -n "$user" ] && [ -n "$pidfile" ] && [[ $pidfile == */* ]]; then
        _initfn_prepare_dir "${pidfile%/*}" "$user" || {
            _initfn_err "start_daemon: cannot prepare the PID directory of ${program##*/}"
            return 1
        }
    fi

    local -a cmd=()
    [ -n "$nice" ] && cmd+=(nice -n "$nice")
    if [ -n "$user" ]; then
        if type -P setpriv >/dev/null; then
            cmd+=(setpriv "--reuid=$user" "--regid=$(id -g -- "$user")" --init-groups)
        elif type -P runuser >/dev/null; then
            cmd+=(runuser -u "$user" --)
        else
            _initfn_err "start_daemon: neither setpriv nor runuser is available to run ${program##*/} as $user"
            return 5
        fi
    fi
    cmd+=("$program" "$@")
    "${cmd[@]}" </dev/null
    rc=$?
    if [ "$rc" -ne 0 ]; then
        _initfn_err "start_daemon: ${program##*/} exited with status $rc"
        return 1
    fi

    local _initfn_deadline _initfn_ms _initfn_step=0 pid
    _initfn_start_deadline
    while :; do
        _initfn_lookup "$pidfile" "$program" "$_initfn_uid"
        rc=$?
        if [ "$rc" -eq 0 ]; then
            for pid in "${_initfn_found[@]}"; do
                [[ " ${before[*]} " == *" $pid "* ]] || return 0
            done
        fi
        if [ "$rc" -eq 4 ]; then
            _initfn_err "start_daemon: ${program##*/} wrote an untrusted PID file $_initfn_pidfile_used"
            return 1
        fi
        if _initfn_past "$_initfn_deadline"; then
            _initfn_err "start_daemon: ${program##*/} is not running after ${STARTTIMEOUT:-30} s${pidfile:+ (PID file $pidfile)}"
            return 1
        fi
        _initfn_nap
    done
}

loadproc() { start_daemon "$@"; }
