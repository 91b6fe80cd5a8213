#!/usr/bin/env bash
# Evaluation and build cost of processes models, with and without the evaluator plugin.
#
#   bench/nix-eval.sh [--sizes "1000 10000"] [--build-size 100] [--jobs N] [--runs N]
#                     [--no-substituters]
#
# For each size it generates a processes model (foreground processes with PORT,
# runlevels 3-5, dependency chains of ten, credentials on every tenth process) and
# measures with GNU time:
#   instantiate   `nix-instantiate` of the profile: evaluation plus writing every .drv
#                 to the store, as nix-build does (cold: every derivation is new)
#   eval only     the same with --readonly-mode: evaluation and hashing, nothing written
# and the cold `nix-build` of a profile of --build-size processes; every figure is the
# best of --runs (default 3), each from a cold store (this machine's timings vary with
# its load), with the highest peak memory of the runs.
# Both ways build-profile.nix evaluates are measured; on both, the profile is ONE
# derivation writing every tree with one nixproc-sysvinit-render run per chunk of
# descriptions (build-profile's chunkSize, each chunk written by a small derivation):
#   plugin        descriptions checked natively by builtins.sysvinitCheck
#   no plugin     descriptions checked by the Nix code of nix/lib.nix
# Columns: wall-clock seconds, peak resident memory (MB) and CPU seconds (user + system,
# children included), which vary less than wall-clock time with the machine's load.
# Reference rows show what Nix itself needs for the same number of trivial derivations
# on this machine: the floor of any generator making one derivation per process.
# Nix runs with the options nixproc-sysvinit-switch gives it (plugin-files only);
# --no-substituters adds `--option substituters ""` to every command, for comparison.
#
# Needs: nix-instantiate/nix-build (root, as set up by scripts/setup.sh), GNU time
# (/usr/bin/time), the release binaries (cargo build --release --bins --examples, or
# NIXPROC_SYSVINIT_BIN) and the plugin (.nixproc/plugin-path, NIXPROC_PLUGIN or
# target/release/libnixproc_sysvinit_plugin.so); without a plugin only the render-tool
# rows are measured. Store paths made here are left for the garbage collector.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
sizes="1000 10000"
build_size=100
jobs=1
runs=3
nixopts=()
while [ $# -gt 0 ]; do
    case $1 in
        --sizes) sizes=$2; shift 2 ;;
        --build-size) build_size=$2; shift 2 ;;
        --jobs) jobs=$2; shift 2 ;;
        --runs) runs=$2; shift 2 ;;
        --no-substituters) nixopts=(--option substituters ""); shift ;;
        -h|--help) sed -n '2,32p' "$0"; exit 0 ;;
        *) echo "nix-eval.sh: unknown option $1" >&2; exit 2 ;;
    esac
done

target=${CARGO_TARGET_DIR:-$root/target}
export NIXPROC_SYSVINIT_BIN=${NIXPROC_SYSVINIT_BIN:-$target/release}
if [ ! -x "$NIXPROC_SYSVINIT_BIN/nixproc-sysvinit-render" ]; then
    echo "nix-eval.sh: no $NIXPROC_SYSVINIT_BIN/nixproc-sysvinit-render;" \
        "run: cargo build --release --bins --examples" >&2
    exit 1
fi
export NIXPROC_SYSVINIT_WEBAPP=${NIXPROC_SYSVINIT_WEBAPP:-$NIXPROC_SYSVINIT_BIN/examples/webapp}
[ -f "$NIXPROC_SYSVINIT_WEBAPP" ] || NIXPROC_SYSVINIT_WEBAPP=$NIXPROC_SYSVINIT_BIN/nixproc-sysvinit-render

plugin=${NIXPROC_PLUGIN:-}
if [ -z "$plugin" ] && [ -f "$root/.nixproc/plugin-path" ]; then
    plugin=$(cat "$root/.nixproc/plugin-path")
fi
if [ -z "$plugin" ] && [ -f "$target/release/libnixproc_sysvinit_plugin.so" ]; then
    plugin=$target/release/libnixproc_sysvinit_plugin.so
fi
if [ -n "$plugin" ] && [ ! -f "$plugin" ]; then plugin=; fi
[ -n "$plugin" ] || echo "nix-eval.sh: no plugin found; measuring without it only" >&2

work=$(mktemp -d "${TMPDIR:-/tmp}/nix-eval.XXXXXX")
trap 'rm -rf "$work"' EXIT

cat > "$work/model.nix" <<NIX
{ pkgs, stateDir, runtimeDir, tmpDir, logDir, n ? 100 }:
let
  createSystemVInitScript = import $root/nix/create-sysvinit-script.nix {
    inherit (pkgs) stdenv writeTextFile daemon;
    inherit runtimeDir tmpDir logDir;
    initFunctions = import $root/nix/init-functions.nix {
      inherit (pkgs) stdenv daemon;
      inherit runtimeDir;
      basePackages = [ pkgs.coreutils pkgs.util-linux ];
    };
  };
  process = i:
    let name = "app\${toString i}"; in
    createSystemVInitScript ({
      instanceName = name;
      process = "\${pkgs.webapp}/bin/webapp";
      processIsDaemon = false;
      environment.PORT = 10000 + i;
      runlevels = [ 3 4 5 ];
      dependencies = if i - (i / 10) * 10 == 0 then [ ] else [ (builtins.elemAt all (i - 1)) ];
    } // (if i - (i / 10) * 10 == 0 then {
      user = name;
      credentials = {
        groups.\${name} = { };
        users.\${name} = { group = name; description = "Benchmark process"; };
      };
    } else { }));
  all = builtins.genList process n;
in
builtins.listToAttrs (map (p: { name = p.processName; value = { pkg = p; }; }) all)
NIX

# A model of n trivial derivations: the floor set by Nix itself.
cat > "$work/trivial.nix" <<'NIX'
{ n, salt }:
derivation {
  name = "trivial-profile";
  system = builtins.currentSystem;
  builder = "/bin/sh";
  args = [ "-c" "echo $paths > $out" ];
  paths = builtins.genList (i: derivation {
    name = "trivial${toString i}";
    system = builtins.currentSystem;
    builder = "/bin/sh";
    args = [ "-c" "echo > $out" ];
    inherit salt;
  }) n;
}
NIX

# A state directory never used before: it is part of every derivation, so each
# measurement starts from a cold store.
# (The counter lives in a file because measurements run in subshells.)
stamp=$(date +%s%N)
echo 0 >"$work/counter"
fresh() {
    local n
    n=$(($(cat "$work/counter") + 1))
    echo "$n" >"$work/counter"
    state="/tmp/nix-eval-$stamp-$n"
}

bench=nix-eval.sh
# shellcheck source=bench/lib/measure.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/measure.sh"

# best CMD-BUILDER: runs `$1 STATEDIR` --runs times; prints the lowest seconds, the
# highest peak MB and the CPU seconds of the fastest run.
best() {
    local i s m c bs='' bm=0 bc=''
    for ((i = 0; i < runs; i++)); do
        fresh
        read -r s m c <<<"$("$1" "$state")"
        if [ -z "$bs" ] || awk "BEGIN { exit !($s < $bs) }"; then bs=$s; bc=$c; fi
        if [ "$m" -gt "$bm" ]; then bm=$m; fi
    done
    echo "$bs $bm $bc"
}

row() { printf '%-44s %10s %10s %10s\n' "$1" "$2" "$3" "$4"; }

profile_args() { # SIZE STATEDIR
    echo "$root/nix/build-profile.nix --arg exprFile $work/model.nix --argstr stateDir $2 --argstr extraParams {\"n\":$1}"
}

modes=("no plugin|")
[ -n "$plugin" ] && modes=("plugin|--option plugin-files $plugin" "${modes[@]}")

echo "nix-eval.sh: $(nix-instantiate --version), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)," \
    "options: $([ ${#nixopts[@]} -eq 0 ] && echo none || echo "${nixopts[*]@Q}")"
declare -A cold
row "measurement" "seconds" "peak MB" "CPU s"
row "-----------" "-------" "-------" "-----"
# Builds first: the large instantiations below grow Nix's database journal, and the
# first write after them pays for its checkpoint.
for mode in "${modes[@]}"; do
    label=${mode%%|*}
    # shellcheck disable=SC2206
    opts=(${mode#*|})
    # shellcheck disable=SC2046
    build_profile() { measure nix-build "${opts[@]}" ${nixopts[@]+"${nixopts[@]}"} --max-jobs "$jobs" --no-out-link $(profile_args "$build_size" "$1"); }
    read -r s m c <<<"$(best build_profile)"
    row "nix-build $build_size-process profile ($label)" "$s" "$m" "$c"
done
build_trivial() { measure nix-build ${nixopts[@]+"${nixopts[@]}"} --max-jobs "$jobs" --no-out-link "$work/trivial.nix" --arg n "$build_size" --argstr salt "$1"; }
read -r s m c <<<"$(best build_trivial)"
row "  reference: nix-build $build_size trivial drvs" "$s" "$m" "$c"
for n in $sizes; do
    for mode in "${modes[@]}"; do
        label=${mode%%|*}
        # shellcheck disable=SC2206
        opts=(${mode#*|})
        # shellcheck disable=SC2046
        instantiate() { measure nix-instantiate "${opts[@]}" ${nixopts[@]+"${nixopts[@]}"} $(profile_args "$n" "$1"); }
        read -r s m c <<<"$(best instantiate)"
        row "instantiate $n processes ($label)" "$s" "$m" "$c"
        cold["$n $label"]=$s
        # shellcheck disable=SC2046
        eval_only() { measure nix-instantiate --readonly-mode "${opts[@]}" ${nixopts[@]+"${nixopts[@]}"} $(profile_args "$n" "$1"); }
        read -r s m c <<<"$(best eval_only)"
        row "eval only $n processes ($label)" "$s" "$m" "$c"
    done
    instantiate_trivial() { measure nix-instantiate ${nixopts[@]+"${nixopts[@]}"} "$work/trivial.nix" --arg n "$n" --argstr salt "$1"; }
    read -r s m c <<<"$(best instantiate_trivial)"
    row "  reference: instantiate $n trivial drvs" "$s" "$m" "$c"
done
for n in $sizes; do
    if [ -n "${cold["$n plugin"]:-}" ] && [ -n "${cold["$n no plugin"]:-}" ]; then
        echo "instantiate $n cold, without the plugin / with it: $(awk -v a="${cold["$n no plugin"]}" -v b="${cold["$n plugin"]}" 'BEGIN { printf "%.2fx", a / b }')"
    fi
done
echo "targets: with the plugin, instantiate 10000 cold in <= 0.8 s and <= 100 MB; without it," \
    "within 1.5x of that; nix-build of the $build_size-process profile cold in <= 0.5 s on both paths"
