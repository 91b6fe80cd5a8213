# shellcheck shell=bash
# init-functions, limits: resource limits of a service's processes, the -l LIMITS option
# of the start functions.
#
# LIMITS is a list of NAME=VALUE words. Resource limits (setrlimit, as prlimit names them
# and in its units: bytes for sizes, seconds for cpu, microseconds for rttime) are set in
# the process that execs the command, so the program and all it starts inherit them:
#   as core cpu data fsize locks memlock msgqueue nice nofile nproc rss rtprio rttime
#   sigpending stack      VALUE: N (soft and hard), SOFT:HARD, either may be unlimited
# cgroup limits need the service's cgroup (see 08-service.sh) and the controller, in
# cgroup v2 or, on a hybrid system, in cgroup v1:
#   memory     bytes, or max          (memory.max; v1 memory.limit_in_bytes)
#   pids       a number, or max       (pids.max)
#   cpuWeight  1 to 10000, 100 is the default share   (cpu.weight; v1 cpu.shares)
# A cgroup limit that cannot be applied is never dropped silently: the start prints one
# warning naming every such limit.

# The ulimit option and the unit (in bytes, else 1) of resource limit NAME.
# Sets: _initfn_rl (the option letter and the scale, "n 1").
# Returns: 0, or 1 for an unknown NAME.
_initfn_rlimit_of() { # NAME
    case $1 in
    as) _initfn_rl='v 1024' ;; core) _initfn_rl='c 1024' ;; cpu) _initfn_rl='t 1' ;;
    data) _initfn_rl='d 1024' ;; fsize) _initfn_rl='f 1024' ;; locks) _initfn_rl='x 1' ;;
    memlock) _initfn_rl='l 1024' ;; msgqueue) _initfn_rl='q 1' ;; nice) _initfn_rl='e 1' ;;
    nofile) _initfn_rl='n 1' ;; nproc) _initfn_rl='u 1' ;; rss) _initfn_rl='m 1024' ;;
    rtprio) _initfn_rl='r 1' ;; rttime) _initfn_rl='R 1' ;; sigpending) _initfn_rl='i 1' ;;
    stack) _initfn_rl='s 1024' ;;
    *) return 1 ;;
    esac
}

# One resource limit value in ulimit's units: unlimited, or N divided by SCALE (N must
# be a multiple of it).
# Sets: _initfn_rv.
# Returns: 0, or 1 for anything else.
_initfn_rlimit_value() { # VALUE SCALE
    _initfn_rv=$1
    [ "$1" = unlimited ] && return 0
    [[ $1 =~ ^[0-9]{1,19}$ ]] && (((10#$1) % $2 == 0)) || return 1
    _initfn_rv=$((10#$1 / $2))
}

# Reads LIMITS (see the top of this part) for FUNCTION.
# Sets: _initfn_rlimits ("LETTER SOFT HARD" words in ulimit's units), _initfn_cglimits
# ("NAME=VALUE" words of the cgroup limits); the callers declare both local.
# Returns: 0, or 2 after a message naming the bad word.
_initfn_limits_read() { # FUNCTION LIMITS
    local word name value soft hard _initfn_rl _initfn_rv
    local -a words=()
    _initfn_rlimits=()
    _initfn_cglimits=()
    read -r -a words <<<"$2"
    for word in "${words[@]}"; do
        name=${word%%=*}
        value=${word#*=}
        if [ "$name" = "$word" ] || [ -z "$value" ]; then
            _initfn_err "$1: a limit reads NAME=VALUE, got '$word'"
            return 2
        fi
        case $name in
        memory | pids | cpuWeight)
            _initfn_cglimit_ok "$name" "$value" || {
                _initfn_err "$1: bad value for the limit $name: '$value'"
                return 2
            }
            _initfn_cglimits+=("$word")
            continue
            ;;
        esac
        _initfn_rlimit_of "$name" || {
            _initfn_err "$1: unknown limit '$name'"
            return 2
        }
        soft=${value%%:*} hard=${value#*:}
        if _initfn_rlimit_value "$soft" "${_initfn_rl#* }"; then
            soft=$_initfn_rv
        else
            soft=''
        fi
        if [ -z "$soft" ] || ! _initfn_rlimit_value "$hard" "${_initfn_rl#* }"; then
            _initfn_err "$1: bad value for the limit $name: '$value' (N, SOFT:HARD or unlimited; sizes in bytes, multiples of ${_initfn_rl#* })"
            return 2
        fi
        _initfn_rlimits+=("${_initfn_rl% *} $soft $_initfn_rv")
    done
}

# Whether VALUE is a valid value of the cgroup limit NAME.
# Sets: nothing.
_initfn_cglimit_ok() { # NAME VALUE
    case $1 in
    memory | pids) [ "$2" = max ] || [[ $2 =~ ^[0-9]{1,19}$ ]] ;;
    cpuWeight) [[ $2 =~ ^[0-9]{1,5}$ ]] && ((10#$2 >= 1 && 10#$2 <= 10000)) ;;
    *) return 1 ;;
    esac
}

# Sets the resource limits _initfn_rlimits in this shell (the subshell that execs the
# command): the hard limit and the soft one, in the order the current values allow.
# Sets: the limits of this process.
# Returns: 0, or 1 after a message naming the limit.
_initfn_rlimits_apply() { # FUNCTION
    local entry letter soft hard
    for entry in "${_initfn_rlimits[@]}"; do
        read -r letter soft hard <<<"$entry"
        { ulimit "-H$letter" "$hard" && ulimit "-S$letter" "$soft"; } 2>/dev/null ||
            { ulimit "-S$letter" "$soft" && ulimit "-H$letter" "$hard"; } 2>/dev/null || {
            _initfn_err "$1: cannot set the resource limit -$letter to $soft:$hard (ulimit)"
            return 1
        }
    done
}

# Applies the cgroup limits _initfn_cglimits to the cgroup of SERVICE (made already):
# through cgroup v2 where it has the controller (enabled down the tree as needed), else
# through the controller's cgroup v1 hierarchy. Limits neither can take are named in one
# warning.
# Sets: _initfn_cg_v1 (the v1 cgroups the command must join as well; callers declare it).
# Returns: 0, or 1 after a message when a limit could not be written.
# shellcheck disable=SC2154 # _initfn_cg_controllers, _initfn_v1_roots: see _initfn_cgroup_probe
_initfn_cgroup_limits() { # FUNCTION SERVICE
    local word name value file controller
    local -a missed=()
    _initfn_cg_v1=()
    for word in "${_initfn_cglimits[@]}"; do
        name=${word%%=*} value=${word#*=}
        case $name in memory) controller=memory ;; pids) controller=pids ;; *) controller=cpu ;; esac
        if [ -n "$_initfn_cg" ] && [[ " $_initfn_cg_controllers " == *" $controller "* ]]; then
            _initfn_cg_enable "$controller" "$2" || return 1
            case $name in memory) file=memory.max ;; pids) file=pids.max ;; *) file=cpu.weight ;; esac
            printf '%s\n' "$value" 2>/dev/null >"$_initfn_cg/$file" || {
                _initfn_err "$1: cannot set $name=$value for ${2#*/} in $_initfn_cg"
                return 1
            }
        elif [ -n "$_initfn_cg" ] && [ -d "/sys/fs/cgroup/$controller" ] &&
            [[ " ${_initfn_v1_roots[*]} " == *" /sys/fs/cgroup/$controller "* ]]; then
            _initfn_cg_v1_limit "$1" "$2" "$controller" "$name" "$value" || return 1
        else
            missed+=("$word")
        fi
    done
    [ "${#missed[@]}" -eq 0 ] ||
        _initfn_err "$1: warning: limits of ${2#*/} not applied, no cgroup controller for them (cgroups need root and a writable cgroup hierarchy): ${missed[*]}"
    return 0
}

# Enables cgroup v2 CONTROLLER for the cgroups of SERVICE (in the root, nixproc-sysvinit,
# pidns-INODE where there is one, and KEY, which hold no processes of their own).
# Sets: nothing.
# Returns: 0, or 1 after a message.
# shellcheck disable=SC2154 # _initfn_cg_dir: see _initfn_cgroup_probe (08-service.sh)
_initfn_cg_enable() { # CONTROLLER SERVICE
    local dir
    local -a dirs=("$_initfn_cg_root" "$_initfn_cg_root/nixproc-sysvinit")
    [ "$_initfn_cg_dir" = nixproc-sysvinit ] || dirs+=("$_initfn_cg_root/$_initfn_cg_dir")
    dirs+=("$_initfn_cg_root/$_initfn_cg_dir/${2%%/*}")
    for dir in "${dirs[@]}"; do
        printf '+%s\n' "$1" 2>/dev/null >"$dir/cgroup.subtree_control" || {
            _initfn_err "cannot enable the cgroup controller $1 in $dir"
            return 1
        }
    done
}

# Sets limit NAME to VALUE in the cgroup v1 hierarchy of CONTROLLER, making the service's
# cgroup there.
# Sets: _initfn_cg_v1 (one more directory).
# Returns: 0, or 1 after a message.
_initfn_cg_v1_limit() { # FUNCTION SERVICE CONTROLLER NAME VALUE
    local dir="/sys/fs/cgroup/$3/$_initfn_cg_dir/$2" file value=$5
    case $4 in
    memory) file=memory.limit_in_bytes && [ "$value" = max ] && value=-1 ;;
    pids) file=pids.max ;;
    *) file=cpu.shares && value=$((10#$5 * 1024 / 100)) && ((value < 2)) && value=2 ;;
    esac
    if ! { [ -d "$dir" ] || mkdir -p -- "$dir"; } 2>/dev/null ||
        ! printf '%s\n' "$value" 2>/dev/null >"$dir/$file"; then
        _initfn_err "$1: cannot set $4=$5 for ${2#*/} in $dir"
        return 1
    fi
    _initfn_cg_v1+=("$dir")
}
