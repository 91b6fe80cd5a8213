# shellcheck shell=bash
# init-functions, foreground: starting a foreground program under its wrapper,
# start_foreground (the skeleton it shares with start_daemon is in 63-start.sh). The
# wrapper is nixproc-sysvinit-supervise (respawn, log rotation, a state file) or
# libslack daemon; both keep the same PID files (DIR/NAME.pid the wrapper's,
# DIR/NAME.clientpid the program's).

# Sets: nothing.
# Returns: as _initfn_start_steps.
start_foreground() {
    local - IFS=$' \t\n'
    set +e +u
    # shellcheck disable=SC2034,SC2154 # fn, force: read by _initfn_start_steps; _initfn_daemon: a setting
    local fn=start_foreground force=0 daemon=$_initfn_daemon pidfile='' nice='' user='' logfile='' dir='' umask=''
    # shellcheck disable=SC2034 # service, limits: read by _initfn_start_steps
    local service='' limits='' respawn='' logrotate='' program target=''
    local -a args=()
    _initfn_start_args 'D:daemon p:pidfile n:nice u:user o:logfile C:dir m:umask s:service l:limits r:respawn L:logrotate' \
        '[-D DAEMON] -p PIDFILE [-n NICE] [-u USER] [-o LOGFILE] [-C DIR] [-m UMASK] [-s SERVICE] [-l LIMITS] [-r RESPAWN] [-L LOGROTATE] -- PROGRAM [ARGS...]' "$@" || return 2
    # shellcheck disable=SC2154 # _initfn_runtime_dir is a setting (01-settings.sh)
    [ -n "$pidfile" ] || pidfile="$_initfn_runtime_dir/${program##*/}.pid"
    if [[ $pidfile != */* ]]; then
        pidfile="./$pidfile"
    fi
    local name=${pidfile##*/} piddir=${pidfile%/*}
    name=${name%.pid}
    [ -n "$piddir" ] || piddir=/
    if [ "${pidfile##*/}" != "$name.pid" ] || [ -z "$name" ]; then
        _initfn_err "start_foreground: the PID file of ${program##*/} must be named NAME.pid, got '$pidfile'"
        return 2
    fi
    # libslack daemon accepts only these characters in names and PID directories.
    if ! [[ $name =~ ^[-._a-zA-Z0-9]+$ ]] || ! [[ $piddir =~ ^[-._a-zA-Z0-9/]+$ ]]; then
        _initfn_err "start_foreground: daemon accepts only the characters -._a-zA-Z0-9/ in PID file paths, got '$pidfile' for ${program##*/}"
        return 2
    fi
    # What _initfn_start_foreground_poll remembers from one look to the next.
    local seen=0 client='' since=0 missing=0
    _initfn_start_steps
}

# The hooks of start_foreground (see _initfn_start_steps).

# The wrapper DAEMON and PROGRAM must be executable; the lookup looks for the wrapper.
# Respawn and log rotation (-r, -L) need nixproc-sysvinit-supervise as the wrapper.
# Sets: target (the caller's), _initfn_path (the caller's).
# Returns: 0, 2 for options the wrapper lacks, or 5 when either is not installed.
# shellcheck disable=SC2154 # _initfn_path is a local of _initfn_start_steps
_initfn_start_foreground_check() {
    if ! _initfn_executable "$daemon"; then
        _initfn_err "start_foreground: the daemon wrapper '$daemon' was not found"
        return 5
    fi
    target=$_initfn_path
    if { [ -n "$respawn" ] || [ -n "$logrotate" ]; } && ! _initfn_is_supervisor "$daemon"; then
        _initfn_err "start_foreground: respawn and log rotation need nixproc-sysvinit-supervise as the wrapper, not $daemon"
        return 2
    fi
    if ! _initfn_executable "$program"; then
        _initfn_err "start_foreground: ${program} is not an executable program"
        return 5
    fi
}

# The working directory must exist; the PID and log directories are made for USER; the
# old PID files go.
# Sets: nothing.
# Returns: 0 ready, 1 failed (reported).
_initfn_start_foreground_prepare() { # LOOKUP-STATUS
    if [ -n "$dir" ] && ! [ -d "$dir" ]; then
        _initfn_err "start_foreground: the working directory $dir of ${program##*/} does not exist"
        return 1
    fi
    _initfn_prepare_dir "$piddir" "$user" || {
        _initfn_err "start_foreground: cannot prepare the PID directory $piddir"
        return 1
    }
    if [ -n "$logfile" ]; then
        local _initfn_dir
        _initfn_dirname "$logfile"
        _initfn_prepare_dir "$_initfn_dir" "$user" || {
            _initfn_err "start_foreground: cannot prepare the log directory of $logfile"
            return 1
        }
    fi
    if [ -e "$pidfile" ] || [ -e "$piddir/$name.clientpid" ]; then
        rm -f -- "$pidfile" "$piddir/$name.clientpid"
    fi
}

# The wrapper's command: WRAPPER --name=NAME --pidfiles=DIR [--output=LOGFILE]
# [--user=USER] [--chdir=DIR] [--umask=UMASK] [...] -- PROGRAM ARGS; for libslack daemon
# with --unsafe --inherit, for the supervisor with the respawn and log options.
# Sets: cmd (the caller's).
# Returns: 0, or 2 for a bad respawn or log rotation setting (reported).
_initfn_start_foreground_command() {
    cmd+=("$daemon")
    _initfn_is_supervisor "$daemon" || cmd+=(--unsafe --inherit)
    cmd+=("--name=$name" "--pidfiles=$piddir")
    [ -n "$logfile" ] && cmd+=("--output=$logfile")
    [ -n "$user" ] && cmd+=("--user=$user")
    [ -n "$dir" ] && cmd+=("--chdir=$dir")
    [ -n "$umask" ] && cmd+=("--umask=$umask")
    _initfn_supervisor_options respawn "$respawn" 'delay:--respawn-delay attempts:--respawn-attempts window:--respawn-window settle:' --respawn || return 2
    _initfn_supervisor_settle || return 2
    _initfn_supervisor_options logrotate "$logrotate" 'maxSize:--log-max-size keep:--log-keep' || return 2
    if _initfn_is_supervisor "$daemon"; then
        # Born in the service's cgroups, which it makes if need be.
        local -a _initfn_cg_options=()
        _initfn_cgroup_options
        cmd+=("${_initfn_cg_options[@]}")
    fi
    cmd+=(-- "$program" "${args[@]}")
}

# The supervisor's --settle: how long the first run must last before the start succeeds,
# the respawn setting's `settle`, and at least a minimum, so that a program that fails at
# once fails its start (the supervisor watches it exactly; no polling here). The minimum
# is 5 ms, as a program that exits a little later is still caught by the poll that
# follows; 10 ms with respawn, which the poll cannot see through.
# Sets: cmd (the caller's).
# Returns: 0, or 1 after a message for a bad settle.
_initfn_supervisor_settle() {
    _initfn_is_supervisor "$daemon" || return 0
    local word settle=0.005 least=5 _initfn_msecs
    [ -n "$respawn" ] && settle=0.01 least=10
    for word in $respawn; do
        [[ $word == settle=* ]] || continue
        _initfn_secs_to_ms "${word#settle=}" || {
            _initfn_err "start_foreground: bad respawn setting '$word'"
            return 1
        }
        ((_initfn_msecs > least)) && settle=${word#settle=}
    done
    cmd+=("--settle=$settle")
}

# True when WRAPPER is nixproc-sysvinit-supervise.
# Sets: nothing.
_initfn_is_supervisor() { # WRAPPER
    [ "${1##*/}" = nixproc-sysvinit-supervise ]
}

# Appends the supervisor options of SETTINGS ("KEY=NUMBER ..." words) to cmd, each KEY
# as the option TABLE maps it to ("KEY:--option ..."), after FLAG when given.
# Sets: cmd (the caller's).
# Returns: 0, or 1 after a message naming WHAT for an unknown key or a bad number.
_initfn_supervisor_options() { # WHAT SETTINGS TABLE [FLAG]
    [ -n "$2" ] || return 0
    local word key value entry option
    local -a words=() table=()
    read -r -a words <<<"$2"
    read -r -a table <<<"$3"
    [ -n "${4:-}" ] && cmd+=("$4")
    for word in "${words[@]}"; do
        key=${word%%=*} value=${word#*=} option=''
        local known=0
        for entry in "${table[@]}"; do
            [ "${entry%%:*}" = "$key" ] && option=${entry#*:} known=1
        done
        if [ "$known" -eq 0 ] || ! [[ $value =~ ^[0-9]+(\.[0-9]+)?$ ]]; then
            _initfn_err "start_foreground: bad $1 setting '$word'"
            return 1
        fi
        # An entry without an option (KEY:) is read elsewhere.
        [ -z "$option" ] || cmd+=("$option=$value")
    done
}

# Sets: nothing.
_initfn_start_foreground_failed() { # STATUS
    _initfn_err "start_foreground: $daemon failed for ${program##*/} (status $1)"
}

# Up = the wrapper runs (verified through its PID file) and its client still lives 20 ms
# after it was first seen (a program that fails at once is caught here, not after the
# timeout). Until the PID file appears, a wrapper that is no longer among the live
# processes has exited: fail soon.
# Sets: seen, client, since, missing, _initfn_found, _initfn_pidfile_used, _initfn_ms
# (all the callers').
# Returns: 0 up, 1 failed (reported), 2 not yet.
# shellcheck disable=SC2154 # _initfn_uid, _initfn_found, _initfn_ms: locals of _initfn_start_steps
_initfn_start_foreground_poll() {
    local rc wpid cpid
    _initfn_lookup "$pidfile" "$target" "$_initfn_uid" 2>/dev/null
    rc=$?
    if [ "$rc" -eq 0 ]; then
        seen=1
        wpid=${_initfn_found[0]}
        local -a _initfn_pids=()
        _initfn_read_pids "$piddir/$name.clientpid" 2>/dev/null
        local now='' _initfn_start=''
        for cpid in "${_initfn_pids[@]}"; do
            if _initfn_child_of "$cpid" "$wpid"; then
                _initfn_starttime "$cpid" && now="$cpid:$_initfn_start"
            fi
        done
        if [ -n "$now" ] && _initfn_is_supervisor "$daemon"; then
            # The supervisor answered once the client had lived its settle time.
            return 0
        elif [ -n "$now" ] && [ "$now" = "$client" ]; then
            _initfn_clock
            [ $((_initfn_ms - since)) -ge 20 ] && return 0
        elif [ -n "$now" ]; then
            client=$now
            _initfn_clock
            since=$_initfn_ms
        elif [ -n "$client" ]; then
            _initfn_foreground_failed "$program" "$logfile" exited
            return 1
        fi
    elif [ "$seen" -eq 1 ]; then
        _initfn_foreground_failed "$program" "$logfile" exited
        return 1
    elif _initfn_wrapper_alive "$name" "$piddir" "$target"; then
        missing=0
    else
        # A scan can miss a process that forks and exits while /proc is read, so only
        # 100 ms of misses (with no PID file) count as gone.
        _initfn_clock
        if [ "$missing" -eq 0 ]; then
            missing=$_initfn_ms
        elif [ $((_initfn_ms - missing)) -ge 100 ]; then
            _initfn_foreground_failed "$program" "$logfile" exited
            return 1
        fi
    fi
    if [ "$rc" -eq 4 ]; then
        # Looked at again, with the reason shown: a file that went away meanwhile (its
        # process exited) is no refusal, the next poll sees why.
        _initfn_lookup "$pidfile" "$target" "$_initfn_uid" && return 2
        [ "$?" -eq 4 ] || return 2
        _initfn_err "start_foreground: ${program##*/} has an untrusted PID file $pidfile"
        return 1
    fi
    return 2
}

# Sets: nothing.
_initfn_start_foreground_timeout() {
    _initfn_foreground_failed "$program" "$logfile" "is not running after ${STARTTIMEOUT:-30} s"
}

# True while a libslack daemon wrapper (DAEMON_PATH) for NAME with PID directory DIR is
# alive (as the wrapper or the client it forked that has not run its program yet).
# Sets: nothing.
_initfn_wrapper_alive() { # NAME DIR DAEMON_PATH
    local name=$1 dir=$2 d i
    local -a argv
    for d in /proc/[0-9]*; do
        [[ $d/exe -ef $3 ]] || continue
        _initfn_alive "${d#/proc/}" || continue
        argv=()
        { mapfile -d '' -t argv <"$d/cmdline"; } 2>/dev/null || continue
        local has_name=0 has_dir=0
        for ((i = 1; i < ${#argv[@]}; i++)); do
            case ${argv[$i]} in
            --) break ;;
            "--name=$name") has_name=1 ;;
            "--pidfiles=$dir") has_dir=1 ;;
            esac
        done
        [ "$has_name$has_dir" = 11 ] && return 0
    done
    return 1
}

# Reports a failed foreground start: PROGRAM WHAT (e.g. "exited during start"), with
# the last lines of LOGFILE when it has any.
# Sets: nothing.
_initfn_foreground_failed() { # PROGRAM LOGFILE WHAT
    local program=$1 logfile=$2 what=$3 tail=''
    [ "$what" = exited ] && what='exited during start'
    if [ -n "$logfile" ] && [ -s "$logfile" ] && ! [ -L "$logfile" ]; then
        tail=$(tail -n 5 -- "$logfile" 2>/dev/null)
    fi
    _initfn_err "start_foreground: ${program##*/} $what${logfile:+ (see $logfile)}${tail:+; its last output:}"
    [ -z "$tail" ] || _initfn_err "$tail"
}
