# shellcheck shell=bash
# init-functions: process control for LSB init scripts (bash >= 4.4).
#
# The library is kept in parts by concern, nix/init-functions/NN-CONCERN.sh;
# nix/init-functions.nix concatenates them in the order of their numbers into the one
# file every generated init.d script sources. This first part holds the overview and
# the settings; the others only define functions. The library provides:
#
#   log_info_msg / log_success_msg / log_failure_msg / log_warning_msg MSG
#       Print MSG as one line (coloured only when standard output is a terminal).
#   evaluate_retval
#       Print OK or FAIL for the status of the previous command and return that status.
#   start_daemon [-f] [-n NICE] [-p PIDFILE] [-u USER] PROGRAM [ARGS...]   (alias loadproc)
#       Start a self-daemonizing PROGRAM unless it already runs (-f: start anyway), with
#       nice level NICE and as USER (setpriv, else runuser). Returns once the PID file
#       names a live process running PROGRAM, with -f one that did not run before
#       (without -p: the default PID file RUNTIMEDIR/BASENAME.pid, else any process
#       running PROGRAM).
#   start_foreground [-D DAEMON] -p DIR/NAME.pid [-n NICE] [-u USER] [-o LOGFILE]
#                    [-C DIR] [-m UMASK] -- PROGRAM [ARGS...]
#       Run a foreground PROGRAM under libslack daemon (DAEMON, default the packaged
#       one): `daemon --unsafe --inherit --name=NAME --pidfiles=DIR [--output=LOGFILE]
#       [--user=USER] [--chdir=DIR] [--umask=UMASK] -- PROGRAM ARGS`. The PID file is the
#       wrapper's; daemon also writes DIR/NAME.clientpid. Unless it already runs,
#       returns once the wrapper and its client live (the client for 20 ms); fails at
#       once, with the log's last lines, when the wrapper or client exits first or the
#       directory DIR of -C does not exist. daemon accepts only -._a-zA-Z0-9 in NAME
#       and also / in DIR.
#   wait_ready -p PIDFILE [-t TIMEOUT] (-P PORT [-H HOST] | -c COMMAND)
#       Wait until HOST:PORT (default 127.0.0.1) accepts a connection, or COMMAND
#       succeeds (both, when both are given); fail at once when the process of PIDFILE
#       is gone, or after TIMEOUT seconds.
#   killproc [-p PIDFILE] [-u USER] [-d DELAY] PROGRAM [SIGNAL]
#       With SIGNAL (-HUP, HUP, SIGHUP or a number): send it. Without: send TERM, wait
#       until the process (and a daemon wrapper's client) is gone, send KILL after DELAY
#       seconds, and remove the PID file. Stopping a stopped program succeeds, and so
#       does stopping one whose USER the account database does not know (getent passwd:
#       not found); a failed look-up of USER fails (1).
#   statusproc [-p PIDFILE] [-u USER] PROGRAM
#       Print the state and return its LSB status code.
#   pidofproc [-p PIDFILE] [-u USER] PROGRAM
#       Print the verified PIDs and return the LSB status code.
#
# Exit codes follow the LSB. statusproc/pidofproc: 0 running, 1 dead but the PID file
# exists, 3 not running (also when USER of -u does not exist), 4 unknown (the PID file is
# not trustworthy). killproc: 0 done, 1 failed (also when USER could not be looked up),
# 2 bad usage, 4 untrusted PID file, 7 a signal was asked for but the program is not
# running. start_daemon/start_foreground: 0 running, 1 failed, 2 bad usage, 5 the
# program is not installed. A PID file naming a live but unrelated process counts as
# "not running" (3), and that process is never signalled.
#
# A PID read from a PID file is trusted only when the process still runs the expected
# program: /proc/PID/exe is the same file, or (for interpreted programs) argv[0] or
# argv[1] names it, or the process is a libslack daemon wrapper whose command runs it
# (so for foreground processes PROGRAM may be the daemon program or the wrapped one);
# and only when it runs as the expected user (real or effective uid): USER of -u, else
# the caller (as start-stop-daemon's --exec and --user). A zombie counts as gone: stops
# do not wait for the reaper. A PID file is refused (status 4, with the reason) when it
# is a symbolic link or not a regular file, is owned by someone other than root and the
# expected user, is writable by group or others, or lies in a directory that is (a
# sticky world-writable directory like /tmp included). Directories the start functions
# create for USER's PID and log files (mode 0755, owned by USER) must have a parent that
# is root's and not world-writable; an existing one must not be a symbolic link nor
# belong to another user (one left by a deleted account is handed over).
#
# The functions work the same under `set -e` and `set -u` in the calling script (they
# run with their own shell options) and do not depend on the caller's IFS.
#
# Settings read from the environment:
#   KILLDELAY      seconds between TERM and KILL in killproc (default 10, decimals allowed)
#   STARTTIMEOUT   seconds start_daemon/start_foreground wait for the process (default 30)
#   READYTIMEOUT   default timeout of wait_ready in seconds (default 30)
#   POLLINTERVAL   polling step in seconds (default: 2 ms for the first three steps of a
#                  wait, then 10 ms)
#
# The placeholders below are substituted when the library is packaged; an unsubstituted
# placeholder means "use the default".

_initfn_runtime_dir='@runtimeDir@'
_initfn_base_path='@basePath@'
_initfn_daemon='@daemon@'
_initfn_supervisor='@supervisor@'

case $_initfn_runtime_dir in '@'*'@' | '') _initfn_runtime_dir=/var/run ;; esac
case $_initfn_base_path in '@'*'@') _initfn_base_path= ;; esac
case $_initfn_daemon in '@'*'@' | '') _initfn_daemon=daemon ;; esac
case $_initfn_supervisor in '@'*'@') _initfn_supervisor= ;; esac

if [ -n "$_initfn_base_path" ]; then
    PATH="$_initfn_base_path${PATH:+:$PATH}"
    export PATH
fi
