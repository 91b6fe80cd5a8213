# shellcheck shell=bash
# init-functions, accounts: the uid a process must run as, and whether a user exists.

# The uid a process must run as: USER's, or without USER the caller's.
# Sets: _initfn_uid (that uid; with USER, whatever `id -u` printed when it fails).
# Returns: 0, or 1 (with a message) when id gives no uid for USER: an unknown USER, or a
# look-up that failed (see _initfn_user_absent).
_initfn_expect_uid() { # [USER]
    _initfn_uid=$EUID
    [ -n "${1:-}" ] || return 0
    _initfn_uid=$(id -u -- "$1" 2>/dev/null)
    if ! [[ $_initfn_uid =~ ^[0-9]+$ ]]; then
        _initfn_err "unknown user '$1'"
        return 1
    fi
}

# True when id finds USER.
# Sets: nothing.
_initfn_user_ok() { # USER
    id -u -- "$1" >/dev/null 2>&1
}

# Whether the account database says that USER does not exist: `getent passwd USER`
# exits 2 for "not found". id cannot tell that apart from a failed look-up, and a
# failure (getent missing from PATH, killed, out of processes, exit 1 or 3) proves
# nothing, so it never counts as "absent". getent is found in PATH like the other tools:
# the base packages first, then the PATH the script was started with.
# Sets: nothing.
# Returns: 0 USER does not exist, 1 USER exists, 2 the database could not tell.
_initfn_user_absent() { # USER
    getent passwd -- "$1" >/dev/null 2>&1
    case $? in
    2) return 0 ;;
    0) return 1 ;;
    *) return 2 ;;
    esac
}
