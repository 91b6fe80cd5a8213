# shellcheck shell=bash
# What the benchmarks share: one command timed with GNU time.
#
# The sourcing script sets `work` (its scratch directory) and `bench` (its name, for
# messages) first.

# measure COMMAND... → prints "seconds peak-MB cpu-seconds" of one run of COMMAND, its
# output discarded; when it fails, prints what it said and exits.
measure() {
    local out=$work/time.$RANDOM
    if ! /usr/bin/time -f '%e %M %U %S' -o "$out" "$@" >/dev/null 2>"$work/err"; then
        echo "$bench: failed: $*" >&2
        cat "$work/err" >&2
        exit 1
    fi
    awk '{ printf "%.2f %.0f %.2f", $1, $2 / 1024, $3 + $4 }' "$out"
}
