# init-functions: process control for LSB init scripts (bash >= 4.4).
#
# Every generated init.d script sources this file. It provides:
#
#   log_info_msg / log_success_msg / log_failure_msg / log_warning_msg MSG
#       Print MSG as one line (coloured only when standard output is a terminal).
#   evaluate_retval
#       Print OK or FAIL for the status of the previous command and return that status.
#   start_daemon [-f] [-n NICE] [-p PIDFILE] [-u USER] PROGRAM [ARGS...]   (alias loadproc)
#       Start a self-daemonizing PROGRAM unless it already runs (-f: start anyway), with
#       nice level NICE and as USER (setpriv, else runuser). Returns once the PID file
#       names a live process running PROGRAM, with -f one that did not run before
#       (without -p: the default PID file RUNTIMEDIR/BASENAME.pid, else any process
#       running PROGRAM).
#   start_foreground [-D DAEMON] -p DIR/NAME.pid [-n NICE] [-u USER] [-o LOGFILE]
#                    [-C DIR] [-m UMASK] -- PROGRAM [ARGS...]
#       Run a foreground PROGRAM under libslack daemon (DAEMON, default the packaged
#       one): `daemon --unsafe --inherit --name=NAME --pidfiles=DIR [--output=LOGFILE]
#       [--user=USER] [--chdir=DIR] [--umask=UMASK] -- PROGRAM ARGS`. The PID file is the
#       wrapper's; daemon also writes DIR/NAME.clientpid. Unless it already runs,
#       returns once the wrapper and its client live (the client for 20 ms); fails at
#       once, with the log's last lines, when the wrapper or client exits first or the
#       directory DIR of -C does not exist. daemon accepts only -._a-zA-Z0-9 in NAME
#       and also / in DIR.
#   wait_ready -p PIDFILE [-t TIMEOUT] (-P PORT [-H HOST] | -c COMMAND)
#       Wait until HOST:PORT (default 127.0.0.1) accepts a connection, or COMMAND
#       succeeds (both, when both are given); fail at once when the process of PIDFILE
#       is gone, or after TIMEOUT seconds.
#   killproc [-p PIDFILE] [-u USER] [-d DELAY] PROGRAM [SIGNAL]
#       With SIGNAL (-HUP, HUP, SIGHUP or a number): send it. Without: send TERM, wait
#       until the process (and a daemon wrapper's client) is gone, send KILL after DELAY
#       seconds, and remove the PID file. Stopping a stopped program succeeds.
#   statusproc [-p PIDFILE] [-u USER] PROGRAM
#       Print the state and return its LSB status code.
#   pidofproc [-p PIDFILE] [-u USER] PROGRAM
#       Print the verified PIDs and return the LSB status code.
#
# Exit codes follow the LSB. statusproc/pidofproc: 0 running, 1 dead but the PID file
# exists, 3 not running (also when USER of -u does not exist), 4 unknown (the PID file is
# not trustworthy). killproc: 0 done,
# 1 failed, 2 bad usage, 4 untrusted PID file, 7 a signal was asked for but the program
# is not running. start_daemon/start_foreground: 0 running, 1 failed, 2 bad usage, 5 the
# program is not installed. A PID file naming a live but unrelated process counts as
# "not running" (3), and that process is never signalled.
#
# A PID read from a PID file is trusted only when the process still runs the expected
# program: /proc/PID/exe is the same file, or (for interpreted programs) argv[0] or
# argv[1] names it, or the process is a libslack daemon wrapper whose command runs it
# (so for foreground processes PROGRAM may be the daemon program or the wrapped one);
# and only when it runs as the expected user (real or effective uid): USER of -u, else
# the caller (as start-stop-daemon's --exec and --user). A zombie counts as gone: stops
# do not wait for the reaper. A PID file is refused (status 4, with the reason) when it
# is a symbolic link or not a regular file, is owned by someone other than root and the
# expected user, is writable by group or others, or lies in a directory that is (a
# sticky world-writable directory like /tmp included). Directories the start functions
# create for USER's PID and log files (mode 0755, owned by USER) must have a parent that
# is root's and not world-writable; an existing one must not be a symbolic link nor
# belong to another user (one left by a deleted account is handed over).
#
# The functions work the same under `set -e` and `set -u` in the calling script (they
# run with their own shell options) and do not depend on the caller's IFS.
#
# Settings read from the environment:
#   KILLDELAY      seconds between TERM and KILL in killproc (default 10, decimals allowed)
#   STARTTIMEOUT   seconds start_daemon/start_foreground wait for the process (default 30)
#   READYTIMEOUT   default timeout of wait_ready in seconds (default 30)
#   POLLINTERVAL   polling step in seconds (default: 2 ms for the first three steps of a
#                  wait, then 10 ms)
#
# The placeholders below are substituted when the library is packaged; an unsubstituted
# placeholder means "use the default".

_initfn_runtime_dir='@runtimeDir@'
_initfn_base_path='@basePath@'
_initfn_daemon='@daemon@'

case $_initfn_runtime_dir in '@'*'@' | '') _initfn_runtime_dir=/var/run ;; esac
case $_initfn_base_path in '@'*'@') _initfn_base_path= ;; esac
case $_initfn_daemon in '@'*'@' | '') _initfn_daemon=daemon ;; esac

if [ -n "$_initfn_base_path" ]; then
    PATH="$_initfn_base_path${PATH:+:$PATH}"
    export PATH
fi

# ---------------------------------------------------------------------------------------
# Messages

_initfn_say() { # COLOUR TEXT
    if [ -t 1 ] && [ -n "$1" ]; then
        printf '\033[%sm%s\033[0m\n' "$1" "$2"
    else
        printf '%s\n' "$2"
    fi
}

log_info_msg() { _initfn_say '' "$*"; }
log_success_msg() { _initfn_say '1;32' "$*"; }
log_failure_msg() { _initfn_say '1;31' "$*"; }
log_warning_msg() { _initfn_say '1;33' "$*"; }

evaluate_retval() {
    local status=$?
    if [ "$status" -eq 0 ]; then
        _initfn_say '1;32' 'OK'
    else
        _initfn_say '1;31' 'FAIL'
    fi
    return "$status"
}

_initfn_err() { printf '%s\n' "$*" >&2; }

# Reports what getopts (in silent mode) found wrong: FUNCTION OPT OPTARG, where OPT is
# ':' for a missing argument and '?' for an unknown option.
_initfn_opt_error() {
    if [ "$2" = ":" ]; then
        _initfn_err "$1: option -$3 needs an argument"
    else
        _initfn_err "$1: unknown option -$3"
    fi
}

# ---------------------------------------------------------------------------------------
# Time and polling

# Sets _initfn_ms to the time in milliseconds (no subshell: it runs in polling loops).
_initfn_clock() {
    local t=${EPOCHREALTIME//[.,]/}
    _initfn_ms=$((10#$t / 1000))
}

# Converts seconds ("10", "0.5", "2.25") to milliseconds; fails on anything else.
_initfn_secs_to_ms() {
    local s=$1 int frac
    [[ $s =~ ^([0-9]+)(\.([0-9]*))?$ ]] || return 1
    int=${BASH_REMATCH[1]}
    frac=${BASH_REMATCH[3]}000
    frac=${frac:0:3}
    printf '%s' "$((10#$int * 1000 + 10#$frac))"
}

# Sets _initfn_deadline to the time in milliseconds MS milliseconds from now.
_initfn_set_deadline() {
    _initfn_clock
    _initfn_deadline=$((_initfn_ms + $1))
}

# Sets _initfn_deadline to STARTTIMEOUT seconds (default 30) from now.
_initfn_start_deadline() {
    local ms
    ms=$(_initfn_secs_to_ms "${STARTTIMEOUT:-30}") || ms=30000
    _initfn_set_deadline "$ms"
}

# True when the time in milliseconds has reached DEADLINE (also updates _initfn_ms).
_initfn_past() {
    _initfn_clock
    [ "$_initfn_ms" -ge "$1" ]
}

# Sleeps one polling step. The first steps of a wait are shorter (a process that reacts
# promptly is seen at once); _initfn_step counts the steps of the current wait.
_initfn_nap() {
    _initfn_step=$((${_initfn_step:-0} + 1))
    if [ -z "${POLLINTERVAL:-}" ] && [ "$_initfn_step" -le 3 ]; then
        sleep 0.002
    else
        sleep "${POLLINTERVAL:-0.01}"
    fi
}

# ---------------------------------------------------------------------------------------
# Processes

# Reads /proc/PID/stat into the array _initfn_st: the fields after the command name,
# so ${_initfn_st[0]} is the state, [1] the parent PID and [19] the start time.
_initfn_read_stat() {
    local line
    _initfn_st=()
    { IFS= read -r line <"/proc/$1/stat"; } 2>/dev/null || return 1
    read -r -a _initfn_st <<<"${line##*) }"
    [ "${#_initfn_st[@]}" -gt 19 ]
}

# True when PID exists and is not a zombie (or dead). With a second argument, the
# process must also still have that start time (protection against PID reuse).
_initfn_alive() {
    local -a _initfn_st=()
    _initfn_read_stat "$1" || return 1
    case ${_initfn_st[0]} in Z | X | x) return 1 ;; esac
    if [ -n "${2:-}" ] && [ "${_initfn_st[19]}" != "$2" ]; then
        return 1
    fi
    return 0
}

# Sets _initfn_start to the start time of PID.
_initfn_starttime() {
    local -a _initfn_st=()
    _initfn_start=
    _initfn_read_stat "$1" || return 1
    _initfn_start=${_initfn_st[19]}
}

# True when PID is a live child of PARENT.
_initfn_child_of() {
    local -a _initfn_st=()
    _initfn_read_stat "$1" || return 1
    case ${_initfn_st[0]} in Z | X | x) return 1 ;; esac
    [ "${_initfn_st[1]}" = "$2" ]
}

# Sets _initfn_path to PROGRAM as a path: as given when it contains a slash, else
# looked up in PATH (through the command hash table, without a subshell).
_initfn_locate() {
    _initfn_path=$1
    if [[ $1 != */* ]] && hash -- "$1" 2>/dev/null; then
        _initfn_path=${BASH_CMDS[$1]:-$1}
    fi
}

# True when the path ARG names the same file as PROGRAM (or is spelled the same).
_initfn_same() {
    [ "$1" = "$2" ] || [ "$1" = "$3" ] || { [[ $1 == /* ]] && [[ $1 -ef $3 ]]; }
}

# True when PID runs PROGRAM (given as typed and located): /proc/PID/exe is the same
# file; or argv[0] or argv[1] names it (interpreted programs); or PID is a libslack
# daemon wrapper whose command is "... -- PROGRAM ...". With a fourth argument, also
# accept an executable that was replaced on disk while running (costs a readlink).
_initfn_runs() {
    local pid=$1 given=$2 located=$3 arg i
    [[ /proc/$pid/exe -ef $located ]] && return 0
    if [ -n "${4:-}" ]; then
        arg=$(readlink "/proc/$pid/exe" 2>/dev/null)
        case $arg in *' (deleted)')
            arg=${arg% (deleted)}
            _initfn_same "$arg" "$given" "$located" && return 0
            [ "$arg" = "$(readlink -f -- "$located" 2>/dev/null)" ] && return 0
            ;;
        esac
    fi
    local -a argv=()
    { mapfile -d '' -t argv <"/proc/$pid/cmdline"; } 2>/dev/null || return 1
    [ "${#argv[@]}" -gt 0 ] || return 1
    for i in 0 1; do
        arg=${argv[$i]:-}
        [ -n "$arg" ] && _initfn_same "$arg" "$given" "$located" && return 0
    done
    # A libslack daemon wrapper that runs PROGRAM.
    if [[ ${argv[0]##*/} != daemon* ]]; then
        local _initfn_path
        _initfn_locate "$_initfn_daemon"
        [[ /proc/$pid/exe -ef $_initfn_path ]] || return 1
    fi
    for ((i = 1; i + 1 < ${#argv[@]}; i++)); do
        if [ "${argv[$i]}" = "--" ]; then
            _initfn_same "${argv[$((i + 1))]}" "$given" "$located" && return 0
            return 1
        fi
    done
    return 1
}

# Sets _initfn_uid to the uid a process must run as: USER's, or without USER the
# caller's. Fails (with a message) for an unknown USER.
_initfn_expect_uid() {
    _initfn_uid=$EUID
    [ -n "${1:-}" ] || return 0
    _initfn_uid=$(id -u -- "$1" 2>/dev/null)
    if ! [[ $_initfn_uid =~ ^[0-9]+$ ]]; then
        _initfn_err "unknown user '$1'"
        return 1
    fi
}

# True when PID runs with real or effective uid UID (as start-stop-daemon --user).
_initfn_runs_as() {
    local line tag ruid euid rest
    while IFS= read -r line; do
        case $line in
        Uid:*)
            read -r tag ruid euid rest <<<"$line"
            [ "$ruid" = "$2" ] || [ "$euid" = "$2" ]
            return
            ;;
        esac
    done 2>/dev/null <"/proc/$1/status"
    return 1
}

# True when DIR may hold the files of a process of uid UID: a directory owned by root
# or UID that nobody else can write (a sticky world-writable directory like /tmp does
# not qualify), reached through a symbolic link only when root owns the link.
# Otherwise prints why and fails.
_initfn_dir_trusted() {
    local dir=$1 uid=$2 owner mode
    if [ -L "$dir" ]; then
        owner=$(stat -c '%u' -- "$dir" 2>/dev/null)
        if [ "$owner" != 0 ]; then
            _initfn_err "refusing directory $dir: a symbolic link owned by uid $owner"
            return 1
        fi
    fi
    read -r owner mode < <(stat -L -c '%u %a' -- "$dir" 2>/dev/null)
    if [ -z "$mode" ] || ! [ -d "$dir" ]; then
        _initfn_err "refusing directory $dir: not a directory"
        return 1
    fi
    if [ "$owner" != 0 ] && [ "$owner" != "$uid" ]; then
        _initfn_err "refusing directory $dir: owned by uid $owner, neither root nor uid $uid"
        return 1
    fi
    if (((8#$mode & 8#022) != 0)); then
        _initfn_err "refusing directory $dir: writable by group or others (mode $mode)"
        return 1
    fi
}

# True when FILE is a PID file only root and uid UID can have written: a regular file
# (never a symbolic link), owned by one of them, writable by nobody else, in a directory
# that passes _initfn_dir_trusted. Otherwise prints why and fails; returns 2 (silently)
# when FILE no longer exists.
_initfn_pidfile_trusted() {
    local file=$1 uid=$2 owner mode dir
    if [ -L "$file" ]; then
        _initfn_err "refusing PID file $file: it is a symbolic link"
        return 1
    fi
    read -r owner mode < <(stat -c '%u %a' -- "$file" 2>/dev/null)
    # Gone meanwhile (a process removing its PID file as it exits).
    [ -n "$mode" ] || return 2
    if ! [ -f "$file" ]; then
        [ -e "$file" ] || return 2
        _initfn_err "refusing PID file $file: not a regular file"
        return 1
    fi
    if [ "$owner" != 0 ] && [ "$owner" != "$uid" ]; then
        _initfn_err "refusing PID file $file: owned by uid $owner, neither root nor uid $uid"
        return 1
    fi
    if (((8#$mode & 8#022) != 0)); then
        _initfn_err "refusing PID file $file: writable by group or others (mode $mode)"
        return 1
    fi
    dir=${file%/*}
    [ "$dir" != "$file" ] || dir=.
    [ -n "$dir" ] || dir=/
    _initfn_dir_trusted "$dir" "$uid"
}

# Reads the PIDs on the first line of FILE into the array _initfn_pids.
_initfn_read_pids() {
    local line='' word
    local -a words=()
    _initfn_pids=()
    [ -r "$1" ] || return 1
    { IFS= read -r line <"$1"; } 2>/dev/null || [ -n "$line" ] || return 0
    read -r -a words <<<"$line"
    for word in "${words[@]}"; do
        [[ $word =~ ^[0-9]+$ ]] || continue
        word=$((10#$word))
        [ "$word" -gt 1 ] && _initfn_pids+=("$word")
    done
    return 0
}

# True when some PID on the first line of FILE names a live process.
_initfn_pidfile_alive() {
    local -a _initfn_pids=()
    local pid
    _initfn_read_pids "$1"
    for pid in "${_initfn_pids[@]}"; do
        _initfn_alive "$pid" && return 0
    done
    return 1
}

# Scans /proc for live processes running PROGRAM as uid UID (used when there is no PID
# file). Arguments: PROGRAM LOCATED UID.
_initfn_scan() {
    local given=$1 located=$2 uid=$3 d pid
    _initfn_pids=()
    for d in /proc/[0-9]*; do
        pid=${d#/proc/}
        [ "$pid" = "$$" ] && continue
        [ "$pid" = "${BASHPID:-}" ] && continue
        _initfn_alive "$pid" || continue
        _initfn_runs "$pid" "$given" "$located" || continue
        _initfn_runs_as "$pid" "$uid" && _initfn_pids+=("$pid")
    done
}

# Core lookup. Sets _initfn_found (verified live PIDs) and _initfn_pidfile_used; returns
# 0 running, 1 dead with PID file, 3 not running, 4 PID file refused (with a message).
# A PID counts only when its process runs PROGRAM as uid UID, from a PID file that
# passes _initfn_pidfile_trusted. Arguments: PIDFILE-or-empty PROGRAM UID
_initfn_lookup() {
    local pidfile=$1 program=$2 uid=$3 _initfn_path pid any_alive=0
    local -a _initfn_pids=()
    _initfn_found=()
    _initfn_locate "$program"
    if [ -z "$pidfile" ]; then
        local def="$_initfn_runtime_dir/${program##*/}.pid"
        if [ -e "$def" ] || [ -L "$def" ]; then
            pidfile=$def
        else
            _initfn_pidfile_used=
            _initfn_scan "$program" "$_initfn_path" "$uid"
            _initfn_found=("${_initfn_pids[@]}")
            [ "${#_initfn_found[@]}" -gt 0 ] && return 0
            return 3
        fi
    fi
    _initfn_pidfile_used=$pidfile
    [ -e "$pidfile" ] || [ -L "$pidfile" ] || return 3
    _initfn_pidfile_trusted "$pidfile" "$uid"
    case $? in 0) ;; 2) return 3 ;; *) return 4 ;; esac
    _initfn_read_pids "$pidfile"
    [ "${#_initfn_pids[@]}" -gt 0 ] || return 1
    for pid in "${_initfn_pids[@]}"; do
        _initfn_alive "$pid" || continue
        any_alive=1
        _initfn_runs "$pid" "$program" "$_initfn_path" check-replaced || continue
        _initfn_runs_as "$pid" "$uid" && _initfn_found+=("$pid")
    done
    [ "${#_initfn_found[@]}" -gt 0 ] && return 0
    # A live but unrelated process holds the PID: the program is not running.
    [ "$any_alive" -eq 1 ] && return 3
    return 1
}

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

# ---------------------------------------------------------------------------------------
# Stopping

# Normalises a signal given as -HUP, HUP, SIGHUP, -SIGHUP or -1 to what kill -s accepts.
_initfn_signal() {
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
# deadline (ms since the epoch) passes. Returns 0 when all are gone.
_initfn_wait_gone() {
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

killproc() {
    local - IFS=$' \t\n'
    set +e +u
    local -a _initfn_found=()
    local _initfn_pidfile_used='' pidfile='' user='' delay=${KILLDELAY:-10} OPTIND=1 opt rc
    while getopts ':p:d:u:' opt; do
        case $opt in
        p) pidfile=$OPTARG ;;
        d) delay=$OPTARG ;;
        u) user=$OPTARG ;;
        *)
            _initfn_opt_error killproc "$opt" "$OPTARG"
            return 2
            ;;
        esac
    done
    shift $((OPTIND - 1))
    if [ $# -lt 1 ] || [ $# -gt 2 ]; then
        _initfn_err "usage: killproc [-p PIDFILE] [-u USER] [-d DELAY] PROGRAM [SIGNAL]"
        return 2
    fi
    local _initfn_uid program=$1 signal=''
    if ! _initfn_expect_uid "$user" 2>/dev/null; then
        # Nothing runs as an account that does not exist (any more).
        _initfn_err "killproc: ${program##*/} is not running: its user '$user' does not exist"
        [ $# -eq 2 ] && return 7
        return 0
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

# ---------------------------------------------------------------------------------------
# Starting

# True when USER exists.
_initfn_user_ok() {
    id -u -- "$1" >/dev/null 2>&1
}

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

# Makes DIR exist for the files of a process, run as USER when given. Without USER, a
# missing DIR is created (mode 0755). With USER, a DIR that others could write or
# redirect is refused with a message (a symbolic link, another account's, writable by
# group or others; see _initfn_dir_trusted), and a missing DIR is created under a parent
# (created as needed) that is root's and not world-writable, with mode 0755, and
# handed over to USER and USER's group. An existing directory is never handed over,
# except one of a deleted account (_initfn_adopt_orphan).
_initfn_prepare_dir() {
    local dir=$1 user=${2:-} parent _initfn_uid
    if [ -z "$user" ]; then
        [ -d "$dir" ] || mkdir -p -m 0755 -- "$dir"
        return
    fi
    _initfn_expect_uid "$user" || return 1
    if [ -L "$dir" ]; then
        _initfn_err "refusing directory $dir: it is a symbolic link"
        return 1
    fi
    if [ -e "$dir" ] || [ -L "$dir" ]; then
        _initfn_adopt_orphan "$dir" "$user"
        _initfn_dir_trusted "$dir" "$_initfn_uid"
        return
    fi
    parent=$(dirname -- "$dir")
    mkdir -p -- "$parent" || return 1
    # Others must not be able to swap DIR for their own: the parent is root's and not
    # world-writable (a group-writable one, such as some systems' /var/log, gives only
    # its privileged group that power).
    local owner mode
    read -r owner mode < <(stat -L -c '%u %a' -- "$parent" 2>/dev/null)
    if [ "$owner" != 0 ] && [ "$owner" != "$EUID" ]; then
        _initfn_err "refusing to create $dir: $parent is owned by uid $owner, not root"
        return 1
    fi
    if [ -z "$mode" ] || (((8#$mode & 8#002) != 0)); then
        _initfn_err "refusing to create $dir: $parent is writable by others (mode $mode)"
        return 1
    fi
    mkdir -m 0755 -- "$dir" || return 1
    if [ "$EUID" -eq 0 ]; then
        chown -- "$user:$(id -g -- "$user")" "$dir" || return 1
    fi
}

# As root, hands DIR over to USER when DIR belongs to an account that no longer exists
# (an earlier deployment's user, deleted since; the new account may have another uid)
# and only root can write its parent, so that root made it.
_initfn_adopt_orphan() {
    local dir=$1 user=$2 owner
    [ "$EUID" -eq 0 ] && ! [ -L "$dir" ] && [ -d "$dir" ] || return 0
    owner=$(stat -c '%u' -- "$dir" 2>/dev/null) || return 0
    [ "$owner" != 0 ] && [ "$owner" != "$_initfn_uid" ] || return 0
    id -- "$owner" >/dev/null 2>&1 && return 0
    _initfn_dir_trusted "$(dirname -- "$dir")" 0 2>/dev/null || return 0
    chown -R -P -- "$user:$(id -g -- "$user")" "$dir"
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

start_foreground() {
    local - IFS=$' \t\n'
    set +e +u
    local daemon=$_initfn_daemon pidfile='' nice='' user='' logfile='' dir='' umask='' OPTIND=1 opt
    while getopts ':D:p:n:u:o:C:m:' opt; do
        case $opt in
        D) daemon=$OPTARG ;;
        p) pidfile=$OPTARG ;;
        n) nice=$OPTARG ;;
        u) user=$OPTARG ;;
        o) logfile=$OPTARG ;;
        C) dir=$OPTARG ;;
        m) umask=$OPTARG ;;
        *)
            _initfn_opt_error start_foreground "$opt" "$OPTARG"
            return 2
            ;;
        esac
    done
    shift $((OPTIND - 1))
    [ "${1:-}" = "--" ] && shift
    if [ $# -lt 1 ]; then
        _initfn_err "usage: start_foreground [-D DAEMON] -p PIDFILE [-n NICE] [-u USER] [-o LOGFILE] [-C DIR] [-m UMASK] -- PROGRAM [ARGS...]"
        return 2
    fi
    local program=$1 rc
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
    _initfn_check_nice_user start_foreground "$nice" "$user" "$program" || return 2
    local daemon_path _initfn_path
    if ! _initfn_executable "$daemon"; then
        _initfn_err "start_foreground: the daemon wrapper '$daemon' was not found"
        return 5
    fi
    daemon_path=$_initfn_path
    if ! _initfn_executable "$program"; then
        _initfn_err "start_foreground: ${program} is not an executable program"
        return 5
    fi

    local -a _initfn_found=()
    local _initfn_pidfile_used='' _initfn_uid
    _initfn_expect_uid "$user" || return 2
    _initfn_lookup "$pidfile" "$daemon_path" "$_initfn_uid"
    rc=$?
    [ "$rc" -eq 0 ] && return 0
    if [ "$rc" -eq 4 ]; then
        _initfn_err "start_foreground: not starting ${program##*/}: untrusted PID file $pidfile"
        return 1
    fi
    if [ -n "$dir" ] && ! [ -d "$dir" ]; then
        _initfn_err "start_foreground: the working directory $dir of ${program##*/} does not exist"
        return 1
    fi

    _initfn_prepare_dir "$piddir" "$user" || {
        _initfn_err "start_foreground: cannot prepare the PID directory $piddir"
        return 1
    }
    if [ -n "$logfile" ]; then
        _initfn_prepare_dir "$(dirname -- "$logfile")" "$user" || {
            _initfn_err "start_foreground: cannot prepare the log directory of $logfile"
            return 1
        }
    fi
    rm -f -- "$pidfile" "$piddir/$name.clientpid"

    local -a cmd=()
    [ -n "$nice" ] && cmd+=(nice -n "$nice")
    cmd+=("$daemon" --unsafe --inherit "--name=$name" "--pidfiles=$piddir")
    [ -n "$logfile" ] && cmd+=("--output=$logfile")
    [ -n "$user" ] && cmd+=("--user=$user")
    [ -n "$dir" ] && cmd+=("--chdir=$dir")
    [ -n "$umask" ] && cmd+=("--umask=$umask")
    cmd+=(-- "$@")
    "${cmd[@]}" </dev/null
    rc=$?
    if [ "$rc" -ne 0 ]; then
        _initfn_err "start_foreground: $daemon failed for ${program##*/} (status $rc)"
        return 1
    fi

    # Up = the wrapper runs (verified through its PID file) and its client still lives
    # 20 ms after it was first seen (a program that fails at once
    # is caught here, not after the timeout). Until the PID file appears, a wrapper that
    # is no longer among the live processes has exited: fail soon.
    local seen=0 wpid cpid client='' since=0 missing=0 _initfn_deadline _initfn_ms _initfn_step=0
    _initfn_start_deadline
    while :; do
        _initfn_lookup "$pidfile" "$daemon_path" "$_initfn_uid" 2>/dev/null
        rc=$?
        if [ "$rc" -eq 0 ]; then
            seen=1
            wpid=${_initfn_found[0]}
            local -a _initfn_pids=()
            _initfn_read_pids "$piddir/$name.clientpid" 2>/dev/null
            local now=''
            for cpid in "${_initfn_pids[@]}"; do
                if _initfn_child_of "$cpid" "$wpid"; then
                    _initfn_starttime "$cpid" && now="$cpid:$_initfn_start"
                fi
            done
            if [ -n "$now" ] && [ "$now" = "$client" ]; then
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
        elif _initfn_wrapper_alive "$name" "$piddir" "$daemon_path"; then
            missing=0
        else
            # A scan can miss a process that forks and exits while /proc is read, so
            # only 100 ms of misses (with no PID file) count as gone.
            _initfn_clock
            if [ "$missing" -eq 0 ]; then
                missing=$_initfn_ms
            elif [ $((_initfn_ms - missing)) -ge 100 ]; then
                _initfn_foreground_failed "$program" "$logfile" exited
                return 1
            fi
        fi
        if [ "$rc" -eq 4 ]; then
            _initfn_lookup "$pidfile" "$daemon_path" "$_initfn_uid"
            _initfn_err "start_foreground: ${program##*/} has an untrusted PID file $pidfile"
            return 1
        fi
        if _initfn_past "$_initfn_deadline"; then
            _initfn_foreground_failed "$program" "$logfile" "is not running after ${STARTTIMEOUT:-30} s"
            return 1
        fi
        _initfn_nap
    done
}

# True while a libslack daemon wrapper (DAEMON_PATH) for NAME with PID directory DIR is
# alive (as the wrapper or the client it forked that has not run its program yet).
_initfn_wrapper_alive() {
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
_initfn_foreground_failed() {
    local program=$1 logfile=$2 what=$3 tail=''
    [ "$what" = exited ] && what='exited during start'
    if [ -n "$logfile" ] && [ -s "$logfile" ] && ! [ -L "$logfile" ]; then
        tail=$(tail -n 5 -- "$logfile" 2>/dev/null)
    fi
    _initfn_err "start_foreground: ${program##*/} $what${logfile:+ (see $logfile)}${tail:+; its last output:}"
    [ -z "$tail" ] || _initfn_err "$tail"
}

# ---------------------------------------------------------------------------------------
# Readiness

wait_ready() {
    local - IFS=$' \t\n'
    set +e +u
    local pidfile='' timeout=${READYTIMEOUT:-30} port='' host=127.0.0.1 command='' OPTIND=1 opt
    while getopts ':p:t:P:H:c:' opt; do
        case $opt in
        p) pidfile=$OPTARG ;;
        t) timeout=$OPTARG ;;
        P) port=$OPTARG ;;
        H) host=$OPTARG ;;
        c) command=$OPTARG ;;
        *)
            _initfn_opt_error wait_ready "$opt" "$OPTARG"
            return 2
            ;;
        esac
    done
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
