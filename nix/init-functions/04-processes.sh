# shellcheck shell=bash
# init-functions, processes: reading /proc, and whether a process runs a given program as
# a given uid.

# Reads /proc/PID/stat (callers declare a local _initfn_st).
# Sets: _initfn_st (the fields after the command name: [0] the state, [1] the parent
# PID, [19] the start time).
# Returns: 0, or 1 when PID is gone or its stat unreadable.
_initfn_read_stat() { # PID
    local line
    _initfn_st=()
    { IFS= read -r line <"/proc/$1/stat"; } 2>/dev/null || return 1
    read -r -a _initfn_st <<<"${line##*) }"
    [ "${#_initfn_st[@]}" -gt 19 ]
}

# True when PID exists and is not a zombie (or dead). With a second argument, the
# process must also still have that start time (protection against PID reuse).
# Sets: nothing.
_initfn_alive() { # PID [STARTTIME]
    local -a _initfn_st=()
    _initfn_read_stat "$1" || return 1
    case ${_initfn_st[0]} in Z | X | x) return 1 ;; esac
    if [ -n "${2:-}" ] && [ "${_initfn_st[19]}" != "$2" ]; then
        return 1
    fi
    return 0
}

# Reads the start time of PID (to tell it from a later process with the same PID).
# Sets: _initfn_start (that start time, empty when PID is gone).
# Returns: 0, or 1 when PID is gone.
_initfn_starttime() { # PID
    local -a _initfn_st=()
    _initfn_start=
    _initfn_read_stat "$1" || return 1
    _initfn_start=${_initfn_st[19]}
}

# True when PID is a live child of PARENT.
# Sets: nothing.
_initfn_child_of() { # PID PARENT
    local -a _initfn_st=()
    _initfn_read_stat "$1" || return 1
    case ${_initfn_st[0]} in Z | X | x) return 1 ;; esac
    [ "${_initfn_st[1]}" = "$2" ]
}

# PROGRAM as a path: as given when it contains a slash, else looked up in PATH (through
# the command hash table, without a subshell).
# Sets: _initfn_path (that path; PROGRAM itself when PATH has no such command).
_initfn_locate() { # PROGRAM
    _initfn_path=$1
    if [[ $1 != */* ]] && hash -- "$1" 2>/dev/null; then
        _initfn_path=${BASH_CMDS[$1]:-$1}
    fi
}

# The directory part of PATH as dirname prints it, without starting dirname.
# Sets: _initfn_dir.
_initfn_dirname() { # PATH
    local p=$1
    while [[ $p == */ && $p != / ]]; do p=${p%/}; done
    case $p in
    */*) p=${p%/*} ;;
    *) p=. ;;
    esac
    while [[ $p == */ && $p != / ]]; do p=${p%/}; done
    _initfn_dir=${p:-/}
}

# True when the path ARG names the same file as PROGRAM (or is spelled the same).
# Sets: nothing.
_initfn_same() { # ARG PROGRAM-AS-GIVEN PROGRAM-LOCATED
    [ "$1" = "$2" ] || [ "$1" = "$3" ] || { [[ $1 == /* ]] && [[ $1 -ef $3 ]]; }
}

# True when PID runs PROGRAM (given as typed and located): /proc/PID/exe is the same
# file; or argv[0] or argv[1] names it (interpreted programs); or PID is a wrapper
# (libslack daemon, nixproc-sysvinit-supervise) whose command is "... -- PROGRAM ...".
# With a fourth argument, also
# accept an executable that was replaced on disk while running (costs a readlink).
# Sets: nothing.
_initfn_runs() { # PID PROGRAM-AS-GIVEN PROGRAM-LOCATED [check-replaced]
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
    # A wrapper (libslack daemon, nixproc-sysvinit-supervise) that runs PROGRAM.
    case ${argv[0]##*/} in
    daemon* | nixproc-sysvinit-supervise*) ;;
    *)
        local _initfn_path
        # shellcheck disable=SC2154 # _initfn_daemon is a setting (01-settings.sh)
        _initfn_locate "$_initfn_daemon"
        [[ /proc/$pid/exe -ef $_initfn_path ]] || return 1
        ;;
    esac
    for ((i = 1; i + 1 < ${#argv[@]}; i++)); do
        if [ "${argv[$i]}" = "--" ]; then
            _initfn_same "${argv[$((i + 1))]}" "$given" "$located" && return 0
            return 1
        fi
    done
    return 1
}

# True when PID runs with real or effective uid UID (as start-stop-daemon --user).
# Sets: nothing.
_initfn_runs_as() { # PID UID
    local line ruid euid
    while IFS= read -r line; do
        case $line in
        Uid:*)
            read -r _ ruid euid _ <<<"$line"
            [ "$ruid" = "$2" ] || [ "$euid" = "$2" ]
            return
            ;;
        esac
    done 2>/dev/null <"/proc/$1/status"
    return 1
}
