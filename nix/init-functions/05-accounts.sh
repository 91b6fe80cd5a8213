# shellcheck shell=bash
# init-functions: Accounts: the uid a process must run as, and whether a user exists.

# Sets _initfn_uid to the uid a process must run as: USER's, or without USER the
# caller's. Fails (with a message) for an unknown USER.
_initfn_expect_uid() {
    _initfn_uid=$EUID
    [ -n "${1:-}" ] || return 0
    _initfn_uid=$(id -u -- "$1" 2>/dev/null)
    if ! [[ $_initfn_uid =~ ^[0-9]+$ ]]; then
        _initfn_err "unknown user '$1'"
        return 1
    fi
}

# True when USER exists.
_initfn_user_ok() {
    id -u -- "$1" >/dev/null 2>&1
}
