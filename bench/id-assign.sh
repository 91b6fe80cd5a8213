#!/usr/bin/env bash
# Cost of nixproc-sysvinit-id-assign on a large processes model.
#
#   bench/id-assign.sh [--sizes "1000 10000"] [--runs N]
#
# For each size it generates a processes model of that many instances, each a
# createSystemVInitScript process (never built: the tool does not force `pkg`) that
# requires a port, a uid and a gid, and measures with GNU time the whole tool run
# (evaluating the model's requirements, idresources.nix and ids.nix with nix-instantiate,
# assigning, writing ids.nix):
#   first         no ids.nix yet: every instance gets new ids
#   again         from its own ids.nix: nothing changes (the file is not rewritten)
#   one changed   from that ids.nix, with one instance removed and one added
# Every figure is the best of --runs (default 3), with the highest peak memory of the
# runs. Columns: wall-clock seconds, peak resident memory (MB) and CPU seconds (user +
# system, children included). Target: under 2 s for 10,000 instances.
#
# Needs: nix-instantiate, GNU time (/usr/bin/time), the release binaries (cargo build
# --release --bins, or NIXPROC_SYSVINIT_BIN).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
sizes="1000 10000"
runs=3
while [ $# -gt 0 ]; do
    case $1 in
        --sizes) sizes=$2; shift 2 ;;
        --runs) runs=$2; shift 2 ;;
        -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
        *) echo "id-assign.sh: unknown option $1" >&2; exit 2 ;;
    esac
done

target=${CARGO_TARGET_DIR:-$root/target}
bin=${NIXPROC_SYSVINIT_BIN:-$target/release}
tool=$bin/nixproc-sysvinit-id-assign
if [ ! -x "$tool" ]; then
    echo "id-assign.sh: no $tool; run: cargo build --release --bins" >&2
    exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/id-assign.XXXXXX")
trap 'rm -rf "$work"' EXIT

# The model: instances app0..app(n-1), or with `changed` app1..app(n) (app0 removed,
# app(n) added).
cat > "$work/processes.nix" <<NIX
{ pkgs, stateDir, runtimeDir, tmpDir, logDir, n ? 100, changed ? false }:
let
  ids = if builtins.pathExists ./ids.nix then (import ./ids.nix).ids else { };
  createSystemVInitScript = import $root/nix/create-sysvinit-script.nix {
    inherit (pkgs) stdenv writeTextFile daemon;
    inherit runtimeDir tmpDir logDir;
    initFunctions = import $root/nix/init-functions.nix {
      inherit (pkgs) stdenv daemon;
      inherit runtimeDir;
      basePackages = [ pkgs.coreutils pkgs.util-linux ];
    };
  };
  instance = i:
    let name = "app\${toString i}"; in {
      inherit name;
      value = rec {
        port = ids.ports.\${name} or 0;
        pkg = createSystemVInitScript {
          instanceName = name;
          process = "\${pkgs.webapp}/bin/webapp";
          processIsDaemon = false;
          environment.PORT = port;
          user = name;
          credentials = {
            groups.\${name} = { };
            users.\${name} = { group = name; description = "Benchmark process"; };
          };
        };
        requiresUniqueIdsFor = [ "ports" "uids" "gids" ];
      };
    };
in
builtins.listToAttrs (builtins.genList (i: instance (if changed then i + 1 else i)) n)
NIX

cat > "$work/idresources.nix" <<'NIX'
rec {
  ports = { min = 10000; max = 60000; };
  uids = { min = 100000; max = 200000; };
  gids = uids;
}
NIX

bench=id-assign.sh
# shellcheck source=bench/lib/measure.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/measure.sh"

# best PREPARE RUN: runs `PREPARE` then (measured) `RUN` --runs times; prints the lowest
# seconds, the highest peak MB and the CPU seconds of the fastest run.
best() {
    local i s m c bs='' bm=0 bc=''
    for ((i = 0; i < runs; i++)); do
        "$1"
        read -r s m c <<<"$("$2")"
        if [ -z "$bs" ] || awk "BEGIN { exit !($s < $bs) }"; then bs=$s; bc=$c; fi
        if [ "$m" -gt "$bm" ]; then bm=$m; fi
    done
    echo "$bs $bm $bc"
}

row() { printf '%-40s %10s %10s %10s\n' "$1" "$2" "$3" "$4"; }

echo "id-assign.sh: $(nix-instantiate --version), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
row "measurement" "seconds" "peak MB" "CPU s"
row "-----------" "-------" "-------" "-----"
for n in $sizes; do
    assign() { # CHANGED
        measure "$tool" --id-resources "$work/idresources.nix" --ids "$work/ids.nix" \
            --output-file "$work/ids.nix" --arg n "$n" --arg changed "$1" \
            "$work/processes.nix"
    }
    fresh() { rm -f "$work/ids.nix"; }
    assigned() { fresh; assign false >/dev/null; cp "$work/ids.nix" "$work/ids-first.nix"; }
    restore() { cp "$work/ids-first.nix" "$work/ids.nix"; }
    first() { assign false; }
    changed() { assign true; }
    read -r s m c <<<"$(best fresh first)"
    row "first assignment, $n instances" "$s" "$m" "$c"
    assigned
    read -r s m c <<<"$(best restore first)"
    cmp -s "$work/ids.nix" "$work/ids-first.nix" || {
        echo "id-assign.sh: assigning again changed ids.nix" >&2
        exit 1
    }
    row "again (unchanged), $n instances" "$s" "$m" "$c"
    read -r s m c <<<"$(best restore changed)"
    row "one removed, one added, $n instances" "$s" "$m" "$c"
done
echo "target: under 2 s for 10000 instances in every row"
