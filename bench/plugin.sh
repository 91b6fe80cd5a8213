#!/usr/bin/env bash
# Benchmark: render N process specs (default 10000) with builtins.sysvinitScript in one
# `nix-instantiate --eval --strict`, and print wall time and peak memory of that evaluation.
# Targets: at most 1 s and 150 MB for 10,000 specs.
#
# Usage: bench/plugin.sh [COUNT]    (needs scripts/setup.sh to have built the plugin, or
#        NIXPROC_PLUGIN=/path/to/libnixproc_sysvinit_plugin.so)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
count=${1:-10000}
plugin=${NIXPROC_PLUGIN:-}
if [ -z "$plugin" ] && [ -f "$root/.nixproc/plugin-path" ]; then
    plugin=$(cat "$root/.nixproc/plugin-path")
fi
if [ -z "$plugin" ] || [ ! -f "$plugin" ]; then
    echo "plugin.sh: no plugin found; run scripts/setup.sh or set NIXPROC_PLUGIN" >&2
    exit 1
fi
if [ ! -x /usr/bin/time ]; then
    echo "plugin.sh: /usr/bin/time missing (apt-get install time)" >&2
    exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Each spec differs (name, port, dependencies, environment, credentials) so nothing can be
# shared between calls. Summing the script lengths calls the primop for every spec; the
# primop returns fully built values (no thunks), so this forces all the work, and printing
# a small summary keeps output out of the measurement.
cat >"$work/bench.nix" <<'NIX'
{ count }:
let
  daemon = "/nix/store/0c7y2l5w3v8h1n6q4r9x2k5m8p1d3f6g-daemon-0.8/bin/daemon";
  initFunctions = "/nix/store/3kq8zvx2k1pcn0vxhdjs6j7w2m9r4a1b-init-functions/etc/init-functions";
  spec = i: let name = "svc${toString i}"; in {
    inherit name;
    description = "Benchmark service number ${toString i}";
    process = "/nix/store/7x1y2z3a4b5c6d7e8f9g0h1j2k3l4m5n-webapp/bin/webapp";
    args = [ "--port" (toString (8000 + i)) "--name" "it's ${name}" ];
    processIsDaemon = false;
    runlevels = [ 3 4 5 ];
    environment = { PORT = 8000 + i; NAME = name; };
    user = name;
    credentials = {
      groups.${name} = { };
      users.${name} = { group = name; description = "Service ${name}"; };
    };
    dependencies = if i == 0 then [ ] else [ { name = "svc${toString (i - 1)}"; sequence = 1 + (i - 1) - (i - 1) / 50 * 50; } ];
    config = { initialInstructions = ". ${initFunctions}"; startProcessAsDaemon = daemon; };
  };
  results = builtins.genList (i: builtins.sysvinitScript (spec i)) count;
in
{
  processes = builtins.length results;
  scriptBytes = builtins.foldl' (n: r: n + builtins.stringLength r.script) 0 results;
  links = builtins.foldl' (n: r: n + builtins.length r.links) 0 results;
}
NIX

run() {
    /usr/bin/time -v -o "$work/time.txt" \
        nix-instantiate --eval --strict --option plugin-files "$plugin" \
        --arg count "$1" "$work/bench.nix" >"$work/out.txt"
}

# Baseline: the same evaluation machinery for a single spec.
run 1
base_wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$work/time.txt")
base_rss_kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.txt")
run "$count"
wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$work/time.txt")
rss_kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.txt")
summary=$(cat "$work/out.txt")

to_seconds() { awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; printf "%.2f", s }' <<<"$1"; }
printf '%-28s %12s %14s\n' "evaluation" "wall time" "peak RSS"
printf '%-28s %11ss %11.1f MB\n' "1 spec (baseline)" "$(to_seconds "$base_wall")" "$(awk "BEGIN {print $base_rss_kb/1024}")"
printf '%-28s %11ss %11.1f MB\n' "$count specs" "$(to_seconds "$wall")" "$(awk "BEGIN {print $rss_kb/1024}")"
printf '%-28s %12s %14s\n' "target for 10000 specs" "<= 1.00s" "<= 150.0 MB"
echo "result: $summary"
