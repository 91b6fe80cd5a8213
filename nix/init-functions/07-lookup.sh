# shellcheck shell=bash
# init-functions: Lookup: the verified PIDs of a program, from its PID file or a scan of /proc.

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
