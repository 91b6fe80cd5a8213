# shellcheck shell=bash
# init-functions, messages: log_*_msg and evaluate_retval for the scripts; the library's
# error reports and its option parser.

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

# Parses the options of FUNCTION (the name its messages carry) in ARGS with getopts, by
# TABLE, words LETTER:VARIABLE (-LETTER takes an argument, stored in VARIABLE) and
# LETTER=VARIABLE (a flag: -LETTER sets VARIABLE to 1). The variables are the caller's
# locals; none may be one of this function's own (_initfn_getopts_*, OPTIND).
# Sets: the variables of TABLE that ARGS give, _initfn_shift (the number of arguments the
# options take, a `--` ending them included; callers declare it local).
# Returns: 0, or 2 after reporting an unknown option or a missing argument.
_initfn_getopts() { # FUNCTION TABLE ARGS...
    local _initfn_getopts_fn=$1 _initfn_getopts_spec='' OPTIND=1
    local _initfn_getopts_opt _initfn_getopts_word
    local -a _initfn_getopts_table=()
    read -r -a _initfn_getopts_table <<<"$2"
    shift 2
    for _initfn_getopts_word in "${_initfn_getopts_table[@]}"; do
        case $_initfn_getopts_word in
        ?:*) _initfn_getopts_spec+=${_initfn_getopts_word:0:2} ;;
        *) _initfn_getopts_spec+=${_initfn_getopts_word:0:1} ;;
        esac
    done
    while getopts ":$_initfn_getopts_spec" _initfn_getopts_opt; do
        case $_initfn_getopts_opt in
        :)
            _initfn_err "$_initfn_getopts_fn: option -$OPTARG needs an argument"
            return 2
            ;;
        '?')
            _initfn_err "$_initfn_getopts_fn: unknown option -$OPTARG"
            return 2
            ;;
        esac
        for _initfn_getopts_word in "${_initfn_getopts_table[@]}"; do
            case $_initfn_getopts_word in
            "$_initfn_getopts_opt:"*) printf -v "${_initfn_getopts_word:2}" '%s' "$OPTARG" ;;
            "$_initfn_getopts_opt="*) printf -v "${_initfn_getopts_word:2}" 1 ;;
            esac
        done
    done
    _initfn_shift=$((OPTIND - 1))
}
