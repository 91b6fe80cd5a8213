# shellcheck shell=bash
# init-functions, service tracking: every process a service's start launches, found
# whatever its PID file says.
#
# A service is named by the -s SERVICE option of the public functions, "KEY/NAME" (the
# renderer makes KEY from the composition's runtime directory, so that two deployments
# on one machine never share a service). Where the caller is root and a writable cgroup
# v2 hierarchy is mounted (pure at /sys/fs/cgroup, or hybrid at /sys/fs/cgroup/unified),
# each service gets the cgroup nixproc-sysvinit/KEY/NAME: the start puts what it launches
# there, so forks, setsid'd grandchildren and daemons that write their PID elsewhere
# are all in it, and only root can move a process out. Elsewhere (not root, no cgroup
# v2, NIXPROC_CGROUPS=0) the launched command carries NIXPROC_SERVICE=SERVICE in its
# environment and the members of a service are the processes of the expected user whose
# environment holds it; that misses a process that clears or replaces its environment
# (env -i, some privilege-dropping programs) and a process that changed its uid.
#
# Machines that share one kernel and its cgroups without cgroup namespaces (a chroot or
# a container with a PID namespace of its own but the first cgroup namespace) must not
# share services: there the cgroups of a PID namespace other than the first one live in
# nixproc-sysvinit/pidns-INODE/KEY/NAME.

# Whether cgroups are used, and where the hierarchies are (looked up once per script).
# Sets: _initfn_cg_root (the cgroup v2 mount, empty when cgroups are not used),
# _initfn_cg_dir (the directory of the services' cgroups below a hierarchy's root:
# nixproc-sysvinit, or nixproc-sysvinit/pidns-INODE), _initfn_cg_controllers (the v2
# controllers it offers, space-separated), _initfn_v1_roots (the mounts of the cgroup
# v1 controllers memory, pids and cpu that cgroup v2 lacks: a hybrid system's),
# _initfn_cg_probed.
_initfn_cgroup_probe() {
    [ -n "${_initfn_cg_probed:-}" ] && return
    _initfn_cg_probed=1
    _initfn_cg_root=
    _initfn_cg_dir=nixproc-sysvinit
    _initfn_cg_controllers=
    _initfn_v1_roots=()
    case ${NIXPROC_CGROUPS:-1} in 0 | [Nn][Oo] | [Oo][Ff][Ff] | [Ff][Aa][Ll][Ss][Ee]) return ;; esac
    [ "$EUID" -eq 0 ] || return
    local root c
    for root in /sys/fs/cgroup /sys/fs/cgroup/unified; do
        if [ -f "$root/cgroup.controllers" ] && [ -w "$root/cgroup.procs" ]; then
            _initfn_cg_root=$root
            { IFS= read -r _initfn_cg_controllers <"$root/cgroup.controllers"; } 2>/dev/null
            break
        fi
    done
    [ -n "$_initfn_cg_root" ] || return
    # Where PID 2 is kthreadd this is the first PID namespace (kernel threads live in no
    # other); else the namespaces' inode numbers tell (the first ones' are fixed:
    # PROC_PID_INIT_INO, PROC_CGROUP_INIT_INO).
    local comm='' ns_line
    { read -r comm </proc/2/comm; } 2>/dev/null
    if [ "$comm" != kthreadd ] || ! [[ /proc/self/ns/pid -ef /proc/2/ns/pid ]]; then
        ns_line=$(stat -L -c '%i' /proc/self/ns/pid /proc/self/ns/cgroup 2>/dev/null)
        local -a ns=()
        read -r -d '' -a ns <<<"$ns_line"
        if [ "${ns[1]:-}" = 4026531835 ] && [ -n "${ns[0]:-}" ] && [ "${ns[0]}" != 4026531836 ]; then
            _initfn_cg_dir="nixproc-sysvinit/pidns-${ns[0]}"
        fi
    fi
    for c in memory pids cpu; do
        [[ " $_initfn_cg_controllers " == *" $c "* ]] && continue
        [ -f "/sys/fs/cgroup/$c/cgroup.procs" ] && _initfn_v1_roots+=("/sys/fs/cgroup/$c")
    done
}

# Checks that SERVICE reads KEY/NAME, neither part empty, . or .., nothing else.
# Sets: nothing.
# Returns: 0, or 2 after a message naming FUNCTION.
_initfn_service_ok() { # FUNCTION SERVICE
    local key=${2%%/*} name=${2#*/}
    if [[ $2 != */* || $name == */* || $key == '' || $name == '' || $key == . ||
        $key == .. || $name == . || $name == .. || $2 == *$'\n'* ]]; then
        _initfn_err "$1: the service must read KEY/NAME, got '$2'"
        return 2
    fi
}

# The cgroup of SERVICE when cgroups are used (whether or not it exists).
# Sets: _initfn_cg (its directory, empty without cgroups), _initfn_cg_root.
_initfn_service_cgroup() { # SERVICE
    _initfn_cgroup_probe
    _initfn_cg=
    [ -n "$_initfn_cg_root" ] && _initfn_cg="$_initfn_cg_root/$_initfn_cg_dir/$1"
}

# The live processes of SERVICE: the members of its cgroup (none when it has none), or
# without cgroups the processes of uid UID whose environment holds NIXPROC_SERVICE=SERVICE
# (this shell excepted).
# Sets: _initfn_members (their PIDs), _initfn_cg (as _initfn_service_cgroup).
_initfn_service_members() { # SERVICE UID
    local pid line
    _initfn_members=()
    _initfn_service_cgroup "$1"
    if [ -n "$_initfn_cg" ]; then
        [ -r "$_initfn_cg/cgroup.procs" ] || return 0
        while IFS= read -r pid; do
            [ "$pid" = "$$" ] || [ "$pid" = "${BASHPID:-}" ] || ! _initfn_alive "$pid" ||
                _initfn_members+=("$pid")
        done <"$_initfn_cg/cgroup.procs"
        return 0
    fi
    local -a env=()
    local joined
    for line in /proc/[0-9]*; do
        pid=${line#/proc/}
        { [ "$pid" = "$$" ] || [ "$pid" = "${BASHPID:-}" ]; } && continue
        { mapfile -d '' -t env <"$line/environ"; } 2>/dev/null || continue
        printf -v joined '\n%s' "${env[@]}"
        [[ $joined$'\n' == *$'\n'"NIXPROC_SERVICE=$1"$'\n'* ]] || continue
        _initfn_runs_as "$pid" "$2" && _initfn_alive "$pid" && _initfn_members+=("$pid")
    done
}

# The processes of a service: PROGRAM from PIDFILE, else (with SERVICE) the live
# processes of the service, whatever its PID file says. Status, start and readiness
# look a service up this way.
# Sets: _initfn_found, _initfn_pidfile_used (the caller's).
# Returns: as _initfn_lookup; 0 also when the service has live processes.
_initfn_service_lookup() { # PIDFILE SERVICE PROGRAM UID
    local rc
    _initfn_lookup "$1" "$3" "$4"
    rc=$?
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 4 ] && [ -n "$2" ]; then
        local -a _initfn_members=()
        _initfn_service_members "$2" "$4"
        if [ "${#_initfn_members[@]}" -gt 0 ]; then
            _initfn_found=("${_initfn_members[@]}")
            return 0
        fi
    fi
    return "$rc"
}
