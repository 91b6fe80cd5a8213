# shellcheck shell=bash
# init-functions, service control: making a service's cgroup, putting what its start
# launches into it, and stopping every process it has (see 08-service.sh for what a
# service is and how its processes are found).

# Makes the cgroup of SERVICE (its parents too) when cgroups are used and NOW is 1, or
# when the command cannot make it itself (nixproc-sysvinit-supervise's --cgroup does:
# see _initfn_service_launcher).
# Sets: _initfn_cg (as _initfn_service_cgroup).
# Returns: 0, or 1 after a message when it cannot be made (the start then fails).
_initfn_service_create() { # FUNCTION SERVICE [NOW]
    _initfn_service_cgroup "$2"
    [ -n "$_initfn_cg" ] || return 0
    [ -d "$_initfn_cg" ] && return 0
    # shellcheck disable=SC2154 # _initfn_supervisor: a setting (01-settings.sh)
    if [ "${3:-0}" != 1 ] && { [ -x "${_initfn_supervisor:-/}" ] || _initfn_is_supervisor "${daemon:-}"; }; then
        return 0
    fi
    # A stop removing empty parents at the same moment can take one away: try again.
    mkdir -p -- "$_initfn_cg" 2>/dev/null || mkdir -p -- "$_initfn_cg" || {
        _initfn_err "$1: cannot make the cgroup $_initfn_cg of ${2#*/}"
        return 1
    }
}

# In the subshell that execs a service's command, when it cannot be born there (see
# _initfn_service_launcher): joins the cgroup of SERVICE and the cgroup v1 controllers of
# its limits (_initfn_cg_v1).
# Sets: nothing.
# Returns: 0, or 1 after a message when the cgroup cannot be joined.
# shellcheck disable=SC2154 # _initfn_cg_v1: set by _initfn_cgroup_limits (61-limits.sh)
_initfn_service_join() { # FUNCTION SERVICE
    local dir
    for dir in ${_initfn_cg:+"$_initfn_cg"} "${_initfn_cg_v1[@]}"; do
        printf '%s\n' "$BASHPID" 2>/dev/null >"$dir/cgroup.procs" || {
            _initfn_err "$1: cannot put ${2#*/} into its cgroup $dir"
            return 1
        }
    done
}

# Stops every live process of SERVICE run as uid UID: TERM, then KILL for those left
# after GRACE milliseconds, and waits (up to 5 s) until none is left; then removes its
# cgroups. Reports what it stopped: "FUNCTION: stopped N processes WHAT: PIDS" (WHAT
# says whose and why, e.g. "that the failed start of NAME left").
# Sets: _initfn_members, _initfn_cg, _initfn_ms, _initfn_step.
# Returns: 0 none left, 1 some still alive after KILL (reported).
_initfn_service_stop() { # FUNCTION SERVICE UID GRACE-MS WHAT
    local -a _initfn_members=() stopped=()
    local _initfn_ms _initfn_step=0
    _initfn_service_members "$2" "$3"
    if [ "${#_initfn_members[@]}" -gt 0 ]; then
        stopped=("${_initfn_members[@]}")
        kill -s TERM "${stopped[@]}" 2>/dev/null
        _initfn_clock
        if ! _initfn_wait_members "$2" "$3" "$((_initfn_ms + $4))"; then
            _initfn_service_kill "$2" "$3"
            _initfn_clock
            _initfn_step=0
            if ! _initfn_wait_members "$2" "$3" "$((_initfn_ms + 5000))"; then
                _initfn_err "$1: processes of ${2#*/} are still running after KILL: ${_initfn_members[*]}"
                return 1
            fi
        fi
        local noun=processes
        [ "${#stopped[@]}" -eq 1 ] && noun=process
        _initfn_err "$1: stopped ${#stopped[@]} $noun $5: ${stopped[*]}"
    fi
    _initfn_service_remove "$2"
    return 0
}

# Waits until SERVICE has no live process of UID, or DEADLINE passes.
# Sets: _initfn_members (what is left), _initfn_ms, _initfn_step.
# Returns: 0 none left, 1 at the deadline.
_initfn_wait_members() { # SERVICE UID DEADLINE
    while :; do
        _initfn_service_members "$1" "$2"
        [ "${#_initfn_members[@]}" -eq 0 ] && return 0
        _initfn_past "$3" && return 1
        _initfn_nap
    done
}

# Sends KILL to every process of SERVICE: at once through cgroup.kill where the kernel
# has it, else to each member (freezing the cgroup meanwhile, so that nothing forks).
# Sets: _initfn_members, _initfn_cg.
_initfn_service_kill() { # SERVICE UID
    _initfn_service_members "$1" "$2"
    if [ -n "$_initfn_cg" ] && [ -f "$_initfn_cg/cgroup.kill" ]; then
        printf '1\n' 2>/dev/null >"$_initfn_cg/cgroup.kill" && return
    fi
    [ "${#_initfn_members[@]}" -gt 0 ] || return 0
    [ -n "$_initfn_cg" ] && printf '1\n' 2>/dev/null >"$_initfn_cg/cgroup.freeze"
    kill -s KILL "${_initfn_members[@]}" 2>/dev/null
    [ -n "$_initfn_cg" ] && printf '0\n' 2>/dev/null >"$_initfn_cg/cgroup.freeze"
}

# Removes the cgroups of SERVICE (cgroup v2 and the v1 controllers of its limits) and
# the parents they leave empty; a cgroup that still has members stays.
# Sets: _initfn_cg.
# shellcheck disable=SC2154 # _initfn_v1_roots, _initfn_cg_dir: see _initfn_cgroup_probe
_initfn_service_remove() { # SERVICE
    _initfn_service_cgroup "$1"
    local -a dirs=()
    local top
    for top in ${_initfn_cg_root:+"$_initfn_cg_root"} "${_initfn_v1_roots[@]}"; do
        top=$top/$_initfn_cg_dir
        [ -d "$top/$1" ] || continue
        dirs+=("$top/$1" "$top/${1%%/*}" "$top")
        # The pidns-INODE level, then nixproc-sysvinit.
        [ "$_initfn_cg_dir" = nixproc-sysvinit ] || dirs+=("${top%/*}")
    done
    [ "${#dirs[@]}" -eq 0 ] || rmdir -- "${dirs[@]}" 2>/dev/null
    return 0
}
