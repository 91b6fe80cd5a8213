# shellcheck shell=bash
# init-functions, lookup: the verified PIDs of a program, from its PID file or a scan of
# /proc.

# Scans /proc for live processes running PROGRAM as uid UID (used when there is no PID
# file); callers declare a local _initfn_pids.
# Sets: _initfn_pids (the PIDs found, this shell's own excepted).
_initfn_scan() { # PROGRAM-AS-GIVEN PROGRAM-LOCATED UID
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

# Core lookup. A PID counts only when its process runs PROGRAM as uid UID, from a PID
# file that passes _initfn_pidfile_trusted. Without PIDFILE, the default PID file
# RUNTIMEDIR/BASENAME.pid when it exists, else a scan of /proc.
# Sets: _initfn_found (the verified live PIDs), _initfn_pidfile_used (the PID file
# read, empty after a scan). Callers declare both local.
# Returns: 0 running, 1 dead with a PID file, 3 not running, 4 PID file refused (with a
# message).
_initfn_lookup() { # PIDFILE-OR-EMPTY PROGRAM UID
    local pidfile=$1 program=$2 uid=$3 _initfn_path pid any_alive=0
    local -a _initfn_pids=()
    _initfn_found=()
    _initfn_locate "$program"
    if [ -z "$pidfile" ]; then
        # shellcheck disable=SC2154 # _initfn_runtime_dir is a setting (01-settings.sh)
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
