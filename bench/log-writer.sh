#!/bin/bash
# Throughput of the supervisor's log writer: a producer writes 512 MiB of numbered lines
# through nixproc-sysvinit-supervise (rotating at 512 KiB keeping 20 files, and without
# rotation) against the same producer piped into `cat > file`.
#
# Usage: bench/log-writer.sh [REPETITIONS]        (default 3)
#
# Environment:
#   SUPERVISE  the supervisor binary (default: cargo build --release, then target/release)
#   BENCH_DIR  where the input and the logs go (default: a new directory under /tmp;
#              it needs about 1.1 GiB)
#   MIB        the amount of output in MiB (default 512)
#
# The producer is `cat` of a file of numbered lines made (and read once, so that it is in
# the page cache) before the measurements, so the producer is faster than any writer and
# the figures are those of the writers. Each case is timed from the start of the
# producer to the end of the writer (the supervisor runs with --foreground and exits
# once its client did and the output is written); the cases take turns, and the table
# shows the medians.
set -u

reps=${1:-3}
if ! [[ $reps =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: $0 [REPETITIONS]" >&2
    exit 2
fi
mib=${MIB:-512}
if ! [[ $mib =~ ^[1-9][0-9]*$ ]]; then
    echo "MIB must be a positive number of MiB, got '$mib'" >&2
    exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")

if [ -z "${SUPERVISE:-}" ]; then
    (cd "$repo" && cargo build --quiet --release --bin nixproc-sysvinit-supervise) || {
        echo "building nixproc-sysvinit-supervise failed; set SUPERVISE to a built binary" >&2
        exit 1
    }
    SUPERVISE="${CARGO_TARGET_DIR:-$repo/target}/release/nixproc-sysvinit-supervise"
fi
[ -x "$SUPERVISE" ] || {
    echo "no supervisor program at $SUPERVISE" >&2
    exit 1
}

if [ -n "${BENCH_DIR:-}" ]; then
    work=$BENCH_DIR
    mkdir -p -- "$work" || exit 1
else
    work=$(mktemp -d /tmp/log-writer.XXXXXX) || exit 1
    trap 'rm -rf -- "$work"' EXIT
fi
input=$work/input
bytes=$((mib * 1024 * 1024))

# Numbered lines of about 60 bytes, exactly $bytes bytes in all (the last line cut to fit
# and ended with a newline).
perl -e '
    my ($total) = @ARGV;
    my ($buf, $written, $i) = ("", 0, 0);
    while ($written < $total) {
        $buf .= sprintf("%012d a numbered line of output, as long as a log line\n", ++$i)
            while length($buf) < 65536;
        my $n = $total - $written < length($buf) ? $total - $written : length($buf);
        my $chunk = substr($buf, 0, $n);
        substr($chunk, -1, 1) = "\n" if $written + $n == $total;
        print $chunk or die "write: $!";
        $written += $n;
        $buf = substr($buf, $n);
    }' "$bytes" >"$input" || {
    echo "cannot write the input $input" >&2
    exit 1
}
cat -- "$input" >/dev/null

now() { date +%s.%N; }

# Runs one case: CASE NAME; prints the seconds it took.
run_case() {
    local out=$work/out case=$1 start end
    rm -rf -- "$out"
    mkdir -p -- "$out"
    sync
    start=$(now)
    case $case in
    cat)
        cat -- "$input" | cat >"$out/log"
        ;;
    rotating)
        "$SUPERVISE" --name=bench --pidfiles="$out" --output="$out/log" --foreground \
            --log-max-size=524288 --log-keep=20 -- cat -- "$input"
        ;;
    single)
        "$SUPERVISE" --name=bench --pidfiles="$out" --output="$out/log" --foreground \
            -- cat -- "$input"
        ;;
    esac
    end=$(now)
    check_case "$case" "$out" || return 1
    echo "$start $end" | awk '{ printf "%.3f\n", $2 - $1 }'
}

# Checks the output of a case: everything arrived (one file), or the rotated files are
# at most 512 KiB plus one line and there are 21 of them.
check_case() { # CASE DIR
    local case=$1 out=$2 size
    case $case in
    cat | single)
        size=$(head -c "$bytes" -- "$out/log" | wc -c)
        if [ "$size" -ne "$bytes" ] || ! head -c "$bytes" -- "$out/log" | cmp -s - "$input"; then
            echo "$case: the log is not the producer's output" >&2
            return 1
        fi
        ;;
    rotating)
        local n
        n=$(find "$out" -name 'log*' | wc -l)
        if [ "$n" -ne 21 ]; then
            echo "$case: $n log files, expected 21" >&2
            return 1
        fi
        if [ -n "$(find "$out" -name 'log*' -size +$((524288 + 200))c)" ]; then
            echo "$case: a log file is larger than 512 KiB and a line" >&2
            return 1
        fi
        ;;
    esac
}

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# The cases take turns, so that a slow moment of the machine does not fall on one case.
cases=(cat rotating single)
declare -A times=()
for ((i = 0; i < reps; i++)); do
    for case in "${cases[@]}"; do
        t=$(run_case "$case") || exit 1
        times[$case]+="$t "
    done
done
printf '%-42s %10s %10s\n' "writer ($mib MiB of numbered lines)" "seconds" "MiB/s"
for case in "${cases[@]}"; do
    # shellcheck disable=SC2086 # the times are words
    t=$(printf '%s\n' ${times[$case]} | median)
    case $case in
    cat) label="producer | cat > file" ;;
    rotating) label="supervise, max 512 KiB, keep 20" ;;
    single) label="supervise, no rotation" ;;
    esac
    printf '%-42s %10s %10s\n' "$label" "$t" "$(awk -v m="$mib" -v t="$t" 'BEGIN { printf "%.0f", m / t }')"
done
rm -rf -- "$work/out"
