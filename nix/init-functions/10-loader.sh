# shellcheck shell=bash
# init-functions, loader: the library comes in two files. The one scripts source holds
# what status needs (parts 01 to 10: it runs most often, so bash reads little); the
# control part (parts 50 and up: starting and stopping) is read the first time one of
# its public functions is called, through the stubs below, which it replaces. When all
# parts are read as one file (the tests do), the real functions come later and replace
# the stubs at once.

_initfn_control='@control@'

# Reads the control part (once: its functions replace these stubs).
# Sets: the control part's functions.
# Returns: 0, or 5 when the file cannot be read (reported).
_initfn_load_control() {
    case $_initfn_control in
    '@'*'@' | '')
        _initfn_err "init-functions: the control part is not installed"
        return 5
        ;;
    esac
    # shellcheck source=/dev/null
    . "$_initfn_control" || {
        _initfn_err "init-functions: cannot read its control part $_initfn_control"
        return 5
    }
}

# The stubs. (Read with the control part in one file, each is replaced before it could
# run: shellcheck's SC2317.)
# Sets: as the control part's function of the same name.
# shellcheck disable=SC2317
start_daemon() { _initfn_load_control && start_daemon "$@"; }
# shellcheck disable=SC2317
loadproc() { _initfn_load_control && loadproc "$@"; }
# shellcheck disable=SC2317
start_foreground() { _initfn_load_control && start_foreground "$@"; }
# shellcheck disable=SC2317
killproc() { _initfn_load_control && killproc "$@"; }
# shellcheck disable=SC2317
wait_ready() { _initfn_load_control && wait_ready "$@"; }
