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
        _initfn_err "refusing $what: owned by $(_initfn_uid_text "$owner"), neither root nor $(_initfn_uid_text "$uid")"
        return 1
    fi
    if (((8#$mode & 8#022) != 0)); then
        _initfn_err "refusing $what: writable by group or others (mode $mode)"
        return 1
    fi
}

# "uid N (NAME)", or "uid N" for a uid without an account (error messages only).
# Sets: nothing (prints).
_initfn_uid_text() { # UID
    local name
    name=$(id -nu -- "$1" 2>/dev/null)
    printf 'uid %s%s' "$1" "${name:+ ($name)}"
}

# True when DIR is a sticky directory (such as /tmp) of root or uid UID, in which only
# a file's owner can remove or rename it: a PID file there is as safe as its own owner
# and mode (see _initfn_pidfile_trusted). A directory reached through a symbolic link
# counts only when root owns the link.
# Sets: nothing.
_initfn_sticky_dir() { # DIR UID
    local owner
    { [ -d "$1" ] && [ -k "$1" ]; } || return 1
    if [ -L "$1" ]; then
        owner=$(stat -c '%u' -- "$1" 2>/dev/null)
        [ "$owner" = 0 ] || return 1
    fi
    owner=$(stat -L -c '%u' -- "$1" 2>/dev/null)
    [ "$owner" = 0 ] || [ "$owner" = "$2" ]
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
# that passes _initfn_dir_trusted, or in a sticky directory of root or UID (nix-
# processmgmt keeps the PID files of processes with a user in tmpDir) with no other
# name (no hard link). Otherwise prints why (naming the file and its owner) and fails.
# It runs on every status, so one stat reads the file and its directory (followed, by
# the trailing slash; the directory's link itself too when it is one).
# Sets: nothing.
# Returns: 0 trusted, 1 refused (with the reason), 2 (silently) FILE no longer exists.
_initfn_pidfile_trusted() { # FILE UID
    local file=$1 uid=$2 dir owner mode links kind name line
    local -A meta=()
    if [ -L "$file" ]; then
        _initfn_err "refusing PID file $file: it is a symbolic link"
        return 1
    fi
    dir=${file%/*}
    [ "$dir" != "$file" ] || dir=.
    [ -n "$dir" ] || dir=/
    local -a paths=("$file" "${dir%/}/")
    [ -L "$dir" ] && paths+=("$dir")
    while IFS= read -r line; do
        read -r owner mode links kind name <<<"$line"
        meta[$name]="$owner $mode $links $kind"
    done < <(stat -c '%u %a %h %f %n' -- "${paths[@]}" 2>/dev/null)
    # Gone meanwhile (a process removing its PID file as it exits).
    [ -n "${meta[$file]:-}" ] || return 2
    read -r owner mode links kind <<<"${meta[$file]}"
    # The type from the same stat (a second look could find the file gone): %f is the
    # raw mode in hex, 8xxx a regular file.
    if [ "$(( 0x$kind & 0xf000 ))" -ne "$(( 0x8000 ))" ]; then
        _initfn_err "refusing PID file $file: not a regular file"
        return 1
    fi
    _initfn_owner_mode_trusted "PID file $file" "$owner" "$mode" "$uid" || return 1
    _initfn_piddir_trusted
}

# The directory part of _initfn_pidfile_trusted (reads its locals file, dir, uid, links,
# meta).
# Sets: nothing.
# Returns: 0 trusted, 1 refused (with the reason).
_initfn_piddir_trusted() {
    local downer dmode
    if [ -L "$dir" ]; then
        read -r downer _ <<<"${meta[$dir]:-x}"
        if [ "$downer" != 0 ]; then
            _initfn_err "refusing directory $dir: a symbolic link owned by uid $downer"
            return 1
        fi
    fi
    read -r downer dmode _ <<<"${meta[${dir%/}/]:-}"
    if [ -z "$dmode" ] || ! [ -d "$dir" ]; then
        _initfn_err "refusing directory $dir: not a directory"
        return 1
    fi
    if [ -k "$dir" ] && { [ "$downer" = 0 ] || [ "$downer" = "$uid" ]; }; then
        # Where everyone may create files, a second name of root's file is a hard link
        # someone else made (where the kernel allows linking others' files).
        [ "$links" = 1 ] && return 0
        _initfn_err "refusing PID file $file: it has $links names (a hard link) in the shared directory $dir"
        return 1
    fi
    _initfn_owner_mode_trusted "directory $dir" "$downer" "$dmode" "$uid"
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
