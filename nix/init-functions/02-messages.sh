# shellcheck shell=bash
# init-functions, messages: log_*_msg and evaluate_retval for the scripts; the library's
# error and usage reports.

# Prints TEXT as one line, in COLOUR (an SGR code, empty for none) on a terminal.
# Sets: nothing.
_initfn_say() { # COLOUR TEXT
    if [ -t 1 ] && [ -n "$1" ]; then
        printf '\033[%sm%s\033[0m\n' "$1" "$2"
    else
        printf '%s\n' "$2"
    fi
}

# Sets: nothing (all four).
log_info_msg() { _initfn_say '' "$*"; }
log_success_msg() { _initfn_say '1;32' "$*"; }
log_failure_msg() { _initfn_say '1;31' "$*"; }
log_warning_msg() { _initfn_say '1;33' "$*"; }

# Prints OK or FAIL for the status of the command before it.
# Sets: nothing.
# Returns: that status.
evaluate_retval() {
    local status=$?
    if [ "$status" -eq 0 ]; then
        _initfn_say '1;32' 'OK'
    else
        _initfn_say '1;31' 'FAIL'
    fi
    return "$status"
}

# Prints a message to standard error.
# Sets: nothing.
_initfn_err() { printf '%s\n' "$*" >&2; }

# Reports what getopts (in silent mode) found wrong: FUNCTION OPT OPTARG, where OPT is
# ':' for a missing argument and '?' for an unknown option.
# Sets: nothing.
_initfn_opt_error() {
    if [ "$2" = ":" ]; then
        _initfn_err "$1: option -$3 needs an argument"
    else
        _initfn_err "$1: unknown option -$3"
    fi
}
