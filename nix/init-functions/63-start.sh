# shellcheck shell=bash
# init-functions, start: the skeleton of both start functions, and starting a
# self-daemonizing program, start_daemon (alias loadproc).

# Checks the options common to the start functions: NICE must be an integer, USER must
# exist.
# Sets: nothing.
# Returns: 0, or 2 after an error message.
_initfn_check_nice_user() { # FUNCTION NICE USER PROGRAM
    if [ -n "$2" ] && ! [[ $2 =~ ^-?[0-9]+$ ]]; then
        _initfn_err "$1: the nice level must be an integer, got '$2'"
        return 2
    fi
    if [ -n "$3" ] && ! _initfn_user_ok "$3"; then
        _initfn_err "$1: unknown user '$3' for ${4##*/}"
        return 2
    fi
}

# True when PROGRAM, located (see _initfn_locate), is an executable file.
# Sets: _initfn_path (PROGRAM located).
_initfn_executable() { # PROGRAM
    _initfn_locate "$1"
    [ -x "$_initfn_path" ] && ! [ -d "$_initfn_path" ]
}

# The skeleton both start functions share: start_daemon and start_foreground parse their
# options into local variables that it and the hooks below read (bash's dynamic scope):
#   fn       the calling function, start_daemon or start_foreground
#   program  PROGRAM as given; args: its arguments
#   target   what the lookup looks for: PROGRAM, or for start_foreground the located
#            daemon wrapper (set by its check hook)
#   pidfile  -p or empty; nice: -n or empty; user: -u or empty; force: 1 for -f, else 0
#   service  -s or empty (see 08-service.sh); limits: -l or empty (see 61-limits.sh)
# Each caller defines the hooks _initfn_FN_STEP (FN the caller's name) for what differs:
#   check     checks before the lookup (its non-zero status is returned)
#   prepare   LOOKUP-STATUS: cleans up and makes directories (non-zero: returned)
#   command   appends to the array cmd what runs after `nice -n NICE` (non-zero: returned)
#   failed    STATUS: reports that the command failed with STATUS
#   poll      one look at the started process: 0 up, 1 failed (reported), 2 not yet
#   timeout   reports that STARTTIMEOUT passed
# In order: NICE, USER, SERVICE and LIMITS are checked, then check; PROGRAM is looked up
# as USER's (else the caller's): a running one is left alone (with force, only a process
# that was not there before counts as started; a service whose PID file names nothing
# but which still has processes counts as running), an untrusted PID file is refused;
# then prepare, the service's cgroup and its cgroup limits, and the command, run with
# standard input from /dev/null, in the cgroup and with the resource limits; then poll
# every step until the deadline. A start that fails after the command ran stops what it
# left of the service (reported).
# Sets: nothing (the hooks see its locals _initfn_found, _initfn_pidfile_used,
# _initfn_uid, _initfn_path, _initfn_cg, before, cmd and the polling clock).
# Returns: 0 running, 1 failed, 2 bad usage (or an unknown USER), 5 not installed.
_initfn_start_steps() {
    local rc _initfn_path _initfn_cg=''
    local -a _initfn_rlimits=() _initfn_cglimits=() _initfn_cg_v1=()
    _initfn_check_nice_user "$fn" "$nice" "$user" "$program" || return 2
    if [ -n "$service" ]; then _initfn_service_ok "$fn" "$service" || return 2; fi
    _initfn_limits_read "$fn" "$limits" || return 2
    "_initfn_${fn}_check" || return
    local -a _initfn_found=() before=()
    local _initfn_pidfile_used='' _initfn_uid
    _initfn_expect_uid "$user" || return 2
    _initfn_service_lookup "$pidfile" "$service" "$target" "$_initfn_uid"
    rc=$?
    if [ "$rc" -eq 0 ] && [ "$force" -eq 0 ]; then
        return 0
    fi
    # With -f over a running copy, only a process that was not there before counts.
    [ "$rc" -eq 0 ] && before=("${_initfn_found[@]}")
    if [ "$rc" -eq 4 ]; then
        _initfn_err "$fn: not starting ${program##*/}: untrusted PID file $_initfn_pidfile_used"
        return 1
    fi
    "_initfn_${fn}_prepare" "$rc" || return
    _initfn_start_launch || return
    _initfn_start_wait && return 0
    _initfn_start_cleanup
    return 1
}

# Makes the service's cgroup and sets its limits, builds the command (the command hook)
# and runs it: born in the cgroup (see _initfn_service_launcher), with its environment
# marked and the resource limits set.
# Sets: cmd, _initfn_cg, _initfn_cg_v1 (the caller's).
# Returns: 0, or the hook's status, or 1 (reported) when the command failed.
_initfn_start_launch() {
    local rc joined=''
    if [ -n "$service" ]; then
        # cgroup limits are written before anything starts: the cgroup is made now.
        _initfn_service_create "$fn" "$service" "$(( ${#_initfn_cglimits[@]} > 0 ))" || return 1
        _initfn_cgroup_limits "$fn" "$service" || {
            _initfn_service_remove "$service"
            return 1
        }
    elif [ "${#_initfn_cglimits[@]}" -gt 0 ]; then
        _initfn_err "$fn: warning: limits of ${program##*/} not applied, they need a service (-s): ${_initfn_cglimits[*]}"
    fi
    local -a cmd=()
    [ -n "$nice" ] && cmd+=(nice -n "$nice")
    "_initfn_${fn}_command" || {
        rc=$?
        [ -z "$service" ] || _initfn_service_remove "$service"
        return "$rc"
    }
    _initfn_nap_close
    [ -n "$service" ] && _initfn_service_launcher && joined=1
    if [ -z "$service" ] && [ "${#_initfn_rlimits[@]}" -eq 0 ]; then
        "${cmd[@]}" </dev/null
    else
        (
            [ -n "$service" ] && export NIXPROC_SERVICE=$service
            if [ -n "$service" ] && [ -z "$joined" ]; then
                _initfn_service_join "$fn" "$service" || exit 1
            fi
            _initfn_rlimits_apply "$fn" || exit 1
            exec "${cmd[@]}"
        ) </dev/null
    fi
    rc=$?
    [ "$rc" -eq 0 ] && return 0
    "_initfn_${fn}_failed" "$rc"
    _initfn_start_cleanup
    return 1
}

# How the command gets into the service's cgroups: a process born there costs the kernel
# far less than one moved there (see nixproc-sysvinit-supervise's launch.rs). The
# supervisor as the wrapper was given the cgroups by the command hook
# (_initfn_cgroup_options); any other command runs under the supervisor's --launch, when
# the library knows the supervisor.
# Sets: cmd (the caller's).
# Returns: 0 when the command will be born in the cgroups, 1 when it must join them.
# shellcheck disable=SC2154 # _initfn_supervisor: a setting (01-settings.sh)
_initfn_service_launcher() {
    [ -n "$_initfn_cg" ] || return 1
    [ "$fn" = start_foreground ] && _initfn_is_supervisor "$daemon" && return 0
    if [ -z "$_initfn_supervisor" ] || ! [ -x "$_initfn_supervisor" ]; then
        # Without a launcher the command joins the cgroup: it must exist.
        _initfn_service_create "$fn" "$service" 1
        return 1
    fi
    local -a _initfn_cg_options=()
    _initfn_cgroup_options
    cmd=("$_initfn_supervisor" --launch "${_initfn_cg_options[@]}" -- "${cmd[@]}")
}

# The options that give nixproc-sysvinit-supervise the service's cgroups (none without
# them): --cgroup for cgroup v2, --cgroup-v1 for each v1 controller of its limits.
# Sets: _initfn_cg_options (the caller's).
_initfn_cgroup_options() {
    local dir
    _initfn_cg_options=()
    [ -n "$_initfn_cg" ] || return 0
    _initfn_cg_options=("--cgroup=$_initfn_cg")
    for dir in "${_initfn_cg_v1[@]}"; do
        _initfn_cg_options+=("--cgroup-v1=$dir")
    done
}

# Polls the started process (the poll hook) every step until it is up, fails, or
# STARTTIMEOUT passes (the timeout hook).
# Sets: the polling clock (the caller's locals).
# Returns: 0 up, 1 failed or timed out (reported).
_initfn_start_wait() {
    local rc _initfn_deadline _initfn_ms _initfn_step=0
    _initfn_start_deadline
    while :; do
        "_initfn_${fn}_poll"
        rc=$?
        [ "$rc" -eq 2 ] || return "$rc"
        if _initfn_past "$_initfn_deadline"; then
            "_initfn_${fn}_timeout"
            return 1
        fi
        _initfn_nap
    done
}

# After a failed start: stops every process the service still has (reported), so that
# nothing the start launched survives it.
# Sets: nothing.
_initfn_start_cleanup() {
    [ -n "$service" ] || return 0
    _initfn_service_stop "$fn" "$service" "$_initfn_uid" 500 \
        "that the failed start of ${service#*/} left"
}

# Parses the arguments of a start function, fn (the caller's): options by TABLE (see
# _initfn_getopts), an optional `--`, PROGRAM and its ARGS; without PROGRAM, prints
# "usage: FN SYNOPSIS".
# Sets: the variables of TABLE, program, args (all the caller's).
# Returns: 0, or 2 after a message.
_initfn_start_args() { # TABLE SYNOPSIS ARGS...
    local _initfn_start_synopsis=$2 _initfn_shift
    _initfn_getopts "$fn" "$1" "${@:3}" || return 2
    shift $((2 + _initfn_shift))
    [ "${1:-}" = "--" ] && shift
    if [ $# -lt 1 ]; then
        _initfn_err "usage: $fn $_initfn_start_synopsis"
        return 2
    fi
    program=$1
    args=("${@:2}")
}

# Sets: nothing.
# Returns: as _initfn_start_steps.
start_daemon() {
    local - IFS=$' \t\n'
    set +e +u
    local fn=start_daemon force=0 nice='' pidfile='' user='' service='' limits='' program
    local -a args=()
    _initfn_start_args 'f=force n:nice p:pidfile u:user s:service l:limits' \
        '[-f] [-n NICE] [-p PIDFILE] [-u USER] [-s SERVICE] [-l LIMITS] PROGRAM [ARGS...]' "$@" || return 2
    local target=$program
    _initfn_start_steps
}

# Sets: nothing.
loadproc() { start_daemon "$@"; }

# The hooks of start_daemon (see _initfn_start_steps).

# Nothing to check before the lookup.
# Sets: nothing.
_initfn_start_daemon_check() { :; }

# Removes the PID file a stopped PROGRAM left behind; PROGRAM must be executable; USER's
# PROGRAM writes its PID file as USER, so a PID directory must be USER's.
# Sets: _initfn_path (the caller's).
# Returns: 0 ready, 1 a directory was refused, 5 PROGRAM is not installed.
_initfn_start_daemon_prepare() { # LOOKUP-STATUS
    if [ "$1" -ne 0 ] && [ -n "$_initfn_pidfile_used" ] && [ -e "$_initfn_pidfile_used" ]; then
        rm -f -- "$_initfn_pidfile_used"
    fi
    if ! _initfn_executable "$program"; then
        _initfn_err "start_daemon: ${program} is not an executable program"
        return 5
    fi
    # A sticky directory (nix-processmgmt's tmpDir) is shared: USER's PID file is
    # checked by the lookups instead.
    if [ -n "$user" ] && [ -n "$pidfile" ] && [[ $pidfile == */* ]] &&
        ! _initfn_sticky_dir "${pidfile%/*}" "$_initfn_uid"; then
        _initfn_prepare_dir "${pidfile%/*}" "$user" || {
            _initfn_err "start_daemon: cannot prepare the PID directory of ${program##*/}"
            return 1
        }
    fi
}

# PROGRAM ARGS, as USER through setpriv (else runuser).
# Sets: cmd (the caller's).
# Returns: 0, or 5 when neither setpriv nor runuser is there.
_initfn_start_daemon_command() {
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
    cmd+=("$program" "${args[@]}")
}

# Sets: nothing.
_initfn_start_daemon_failed() { # STATUS
    _initfn_err "start_daemon: ${program##*/} exited with status $1"
}

# Up once the lookup finds a process that was not running before the start. In a
# cgroup, a service with no process left has exited: failed at once.
# Sets: _initfn_found and _initfn_pidfile_used (the caller's).
# Returns: 0 up, 1 failed (reported), 2 not yet.
_initfn_start_daemon_poll() {
    local rc pid
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
    if [ -n "$_initfn_cg" ] && [ -d "$_initfn_cg" ]; then
        local -a _initfn_members=()
        _initfn_service_members "$service" "$_initfn_uid"
        if [ "${#_initfn_members[@]}" -eq 0 ]; then
            _initfn_err "start_daemon: ${program##*/} exited during start: nothing of ${service#*/} runs${pidfile:+ (PID file $pidfile)}"
            return 1
        fi
    fi
    return 2
}

# Sets: nothing.
_initfn_start_daemon_timeout() {
    _initfn_err "start_daemon: ${program##*/} is not running after ${STARTTIMEOUT:-30} s${pidfile:+ (PID file $pidfile)}"
}
