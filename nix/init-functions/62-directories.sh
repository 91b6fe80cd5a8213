# shellcheck shell=bash
# init-functions, directories: making the PID and log directories of a process for its
# user.

# Makes DIR exist for the files of a process, run as USER when given. Without USER, a
# missing DIR is created (mode 0755). With USER, a DIR that others could write or
# redirect is refused with a message (a symbolic link, another account's, writable by
# group or others; see _initfn_dir_trusted), and a missing DIR is created under a parent
# (created as needed) that is root's and not world-writable, with mode 0755, and
# handed over to USER and USER's group. An existing directory is never handed over,
# except one left over for the service's account (_initfn_adopt_orphan).
# Sets: nothing.
# Returns: 0 DIR is ready, 1 refused or failed (with a message).
_initfn_prepare_dir() { # DIR [USER]
    local dir=$1 user=${2:-} parent _initfn_uid
    if [ -z "$user" ]; then
        # shellcheck disable=SC2174 # only DIR itself needs mode 0755; parents get the umask's
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
    local _initfn_dir
    _initfn_dirname "$dir"
    parent=$_initfn_dir
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

# As root, hands DIR over to USER when it is left over for the service's account: a
# directory the switch released when it deleted an earlier account (root's, mode 0700,
# holding root's marker file .nixproc-sysvinit-released), or one that belongs to an
# account that no longer exists (left by older versions; the new account may have
# another uid); in both cases only when root alone can write its parent, so that root
# made it. Files in it are handed over too (never through a symbolic link). Reads the
# caller's _initfn_uid (USER's uid).
# Sets: nothing.
_initfn_adopt_orphan() { # DIR USER
    local dir=$1 user=$2 owner mode marker=$1/.nixproc-sysvinit-released
    [ "$EUID" -eq 0 ] && ! [ -L "$dir" ] && [ -d "$dir" ] || return 0
    read -r owner mode < <(stat -c '%u %a' -- "$dir" 2>/dev/null)
    [ -n "$owner" ] && [ "$owner" != "$_initfn_uid" ] || return 0
    if [ "$owner" = 0 ]; then
        [ "$mode" = 700 ] && [ -f "$marker" ] && ! [ -L "$marker" ] &&
            [ "$(stat -c '%u' -- "$marker" 2>/dev/null)" = 0 ] || return 0
    else
        id -- "$owner" >/dev/null 2>&1 && return 0
    fi
    local _initfn_dir
    _initfn_dirname "$dir"
    _initfn_dir_trusted "$_initfn_dir" 0 2>/dev/null || return 0
    rm -f -- "$marker"
    chown -R -P -- "$user:$(id -g -- "$user")" "$dir" && chmod 0755 -- "$dir"
}
