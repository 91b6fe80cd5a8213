#!/bin/sh
# Syntax-checks the plugin's Nix bridge (src/nix_bridge.cc with its adapter) against a Nix
# source tree configured by Nix's own build system, without building Nix.
#
#   cpp-bridge/compile-check.sh NIX_SOURCE MESON_BUILD_DIR
#
# NIX_SOURCE is an unpacked Nix release (2.26 or later; its `.version` names it) and
# MESON_BUILD_DIR the directory `meson setup` wrote, which holds the generated configuration
# headers (config-*.hh for 2.26, nix/*/config.hh from 2.28). Needs g++ and the headers of
# Nix's dependencies (boost, nlohmann-json, Boehm GC) of the same system. Exits non-zero,
# with the compiler's errors, when the bridge does not compile.
set -eu

[ $# -eq 2 ] || { echo "usage: $0 NIX_SOURCE MESON_BUILD_DIR" >&2; exit 2; }
src=$1 build=$2
here=$(cd "$(dirname "$0")" && pwd)
version=$(cat "$src/.version")
minor=$(echo "$version" | cut -d. -f2)
case $minor in
'' | *[!0-9]*) echo "compile-check: cannot read the Nix version from $src/.version" >&2; exit 2 ;;
esac

set --
if [ "$minor" -ge 28 ]; then
    # Headers under src/lib*/include (and platform subfolders), generated config.hh in the
    # build directory's mirror of them.
    for dir in $(find "$src/src" "$build/src" -type d -name include -path '*/lib*' | sort); do
        set -- "$@" -I "$dir"
    done
else
    for lib in libutil libstore libfetchers libexpr libmain; do
        for dir in "$src/src/$lib" "$src/src/$lib/linux" "$src/src/$lib/unix" "$build/src/$lib"; do
            [ -d "$dir" ] && set -- "$@" -I "$dir"
        done
    done
fi
std=c++20
[ "$minor" -ge 31 ] && std=c++23

# compile MINOR INCLUDE_FLAGS...: g++ -fsyntax-only of the bridge with the adapter generation for MINOR.
compile() {
    generation=$1
    shift
    # shellcheck disable=SC2046 # pkg-config prints several words on purpose
    g++ "-std=$std" -fsyntax-only -w "-DNIXPROC_NIX_MINOR=$generation" -I "$here/src" "$@" \
        $(pkg-config --cflags bdw-gc 2>/dev/null || true) \
        "$here/src/nix_bridge.cc"
}

echo "compile-check: Nix $version (NIXPROC_NIX_MINOR=$minor, -std=$std)"
compile "$minor" "$@"
echo "compile-check: nix_bridge.cc compiles against Nix $version"

# The adapter generation just before this version's must not compile, or the check would
# not tell the generations apart.
if [ "$minor" -ge 34 ]; then older=33
elif [ "$minor" -ge 31 ]; then older=30
elif [ "$minor" -ge 28 ]; then older=27
else older=8
fi
if compile "$older" "$@" >/dev/null 2>&1; then
    echo "compile-check: the bridge also compiles as NIXPROC_NIX_MINOR=$older against Nix $version:" \
        "the adapter's version switch would prove nothing" >&2
    exit 1
fi
echo "compile-check: and, as it must, not with the adapter for NIXPROC_NIX_MINOR=$older"
