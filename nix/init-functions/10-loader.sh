# shellcheck shell=bash
# init-functions, loader: the library comes in three files. The one scripts source holds
# what status needs (parts 01 to 10: it runs most often, so bash reads little). The
# control parts are read the first time one of their public functions is called,
# through the stubs below, which they replace: the stop part (parts 50 to 59: service
# control and killproc) for a stop, the stop part and then the start part (parts 60 and
# up: limits, directories, start, foreground, readiness) for a start, which may have to
# stop what a failed start left. When all parts are read as one file (the tests do), the
# real functions come later and replace the stubs at once.

_initfn_stop_part='@stopPart@'
_initfn_start_part='@startPart@'

# Reads the control part WHAT ("stop" or "start") from FILE, once.
# Sets: the part's functions, _initfn_loaded_stop or _initfn_loaded_start.
# Returns: 0, or 5 when the file cannot be read (reported).
_initfn_load_part() { # WHAT FILE
    local flag=_initfn_loaded_$1
    [ -z "${!flag:-}" ] || return 0
    case $2 in
    '@'*'@' | '')
        _initfn_err "init-functions: its $1 part is not installed"
        return 5
        ;;
    esac
    # shellcheck source=/dev/null
    . "$2" || {
        _initfn_err "init-functions: cannot read its $1 part $2"
        return 5
    }
    printf -v "$flag" 1
}

# Sets: the functions of the stop part.
# Returns: as _initfn_load_part.
_initfn_load_stop() { _initfn_load_part stop "$_initfn_stop_part"; }

# Sets: the functions of the stop and the start part.
# Returns: as _initfn_load_part.
_initfn_load_start() {
    _initfn_load_stop && _initfn_load_part start "$_initfn_start_part"
}

# The stubs. (Read with the control parts in one file, each is replaced before it could
# run: shellcheck's SC2317.)
# Sets: as the control part's function of the same name.
# shellcheck disable=SC2317
start_daemon() { _initfn_load_start && start_daemon "$@"; }
# shellcheck disable=SC2317
loadproc() { _initfn_load_start && loadproc "$@"; }
# shellcheck disable=SC2317
start_foreground() { _initfn_load_start && start_foreground "$@"; }
# shellcheck disable=SC2317
killproc() { _initfn_load_stop && killproc "$@"; }
# shellcheck disable=SC2317
wait_ready() { _initfn_load_start && wait_ready "$@"; }
