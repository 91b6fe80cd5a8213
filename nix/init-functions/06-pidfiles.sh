# shellcheck shell=bash
# init-functions, PID files: which ones are trusted, and reading the PIDs they hold.

# True when a file or directory with owner OWNER and mode MODE (octal) is owned by root
# or uid UID and writable by nobody else. Otherwise prints why, naming it WHAT ("PID file
# FILE", "directory DIR"), and fails.
# Sets: nothing.
# Returns: 0 trusted, 1 refused (with the reason).
_initfn_owner_mode_trusted() { # WHAT OWNER MODE UID
    local what=$1 owner=$2 mode=$3 uid=$4
    if [ "$owner" != 0 ] && [ "$owner" != "$uid" ]; then
        _initfn_err "refusing $what: owned by uid $owner, neither root nor uid $uid"
        return 1
    fi
    if (((8#$mode & 8#022) != 0)); then
        _initfn_err "refusing $what: writable by group or others (mode $mode)"
        return 1
    fi
}

# True when DIR may hold the files of a process of uid UID: a directory owned by root
# or UID that nobody else can write (a sticky world-writable directory like /tmp does
# not qualify), reached through a symbolic link only when root owns the link.
# Otherwise prints why and fails.
# Sets: nothing.
# Returns: 0 trusted, 1 refused (with the reason).
_initfn_dir_trusted() { # DIR UID
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
    _initfn_owner_mode_trusted "directory $dir" "$owner" "$mode" "$uid"
}

# True when FILE is a PID file only root and uid UID can have written: a regular file
# (never a symbolic link), owned by one of them, writable by nobody else, in a directory
# that passes _initfn_dir_trusted. Otherwise prints why and fails.
# Sets: nothing.
# Returns: 0 trusted, 1 refused (with the reason), 2 (silently) FILE no longer exists.
_initfn_pidfile_trusted() { # FILE UID
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
    _initfn_owner_mode_trusted "PID file $file" "$owner" "$mode" "$uid" || return 1
    dir=${file%/*}
    [ "$dir" != "$file" ] || dir=.
    [ -n "$dir" ] || dir=/
    _initfn_dir_trusted "$dir" "$uid"
}

# Reads the PIDs on the first line of FILE (callers declare a local _initfn_pids).
# Sets: _initfn_pids (those PIDs greater than 1, as numbers; empty for none).
# Returns: 0, or 1 when FILE is not readable.
_initfn_read_pids() { # FILE
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
# Sets: nothing.
_initfn_pidfile_alive() { # FILE
    local -a _initfn_pids=()
    local pid
    _initfn_read_pids "$1"
    for pid in "${_initfn_pids[@]}"; do
        _initfn_alive "$pid" && return 0
    done
    return 1
}
