#!/usr/bin/env bash
# Runs the plugin's tests against one Nix version built with shared libraries inside a
# Debian root filesystem (a "lane").
#
#   scripts/lanes/nix-lane.sh [options] VERSION
#
#   VERSION            a Nix release, e.g. 2.26.3 or 2.35.2
#   --suite SUITE      Debian suite of the root filesystem (default: trixie for 2.26.x, whose
#                      Debian source package is used; sid for every other version)
#   --tarball FILE     release source tarball (nix-VERSION.tar.xz) for versions Debian has no
#                      downloadable source package of; default: $NIXPROC_NIX_SOURCES/nix-VERSION.tar.xz,
#                      then the verified copy an earlier run kept in the cache. A version
#                      listed in release_sha256 below must match its checksum.
#   --nix-only         build (or reuse) the Nix of the lane and stop
#   --compile-check    only configure Nix with its own build system (meson setup, no build)
#                      and compile the plugin's C++ against the configured headers
#
# Why a root filesystem: Debian 13 and sid ship a statically linked `nix`, into which no C++
# plugin can load, and the plugin must be compiled with the same boost/nlohmann/gc headers as
# the Nix it runs in. So each lane builds Nix itself (meson, -Ddefault_library=shared, no
# docs, tests or bindings; a unity build, which compiles 8 sources per compiler run and
# takes about a third of the time on 2 cores), installs it under /opt/nix-VERSION inside the root filesystem, then builds
# the plugin there from a clean copy of the committed tree (`git archive HEAD`) and runs
# the plugin:: and nix_profiles:: tests of the integration test binary
# (tests/integration/{plugin,nix_profiles}.rs: the Nix interface, including the
# with/without-plugin tree equality) with that Nix first on PATH.
#
# Cache: NIXPROC_LANE_CACHE (default /var/cache/nixproc-sysvinit/lanes) holds one directory
# per SUITE: its root filesystem (with cargo's caches) and markers `nix-VERSION.done`. Inside
# it, each VERSION has its source and build in /build/nix-VERSION, its installation in
# /opt/nix-VERSION and the plugin's build in /project/nix-VERSION. A later run reuses all of it
# and only rebuilds the plugin. `sources/` keeps verified release tarballs. Delete a suite's
# directory to start over.
#
# Needs root, mmdebstrap (installed with apt when missing) and network access to the Debian archive configured for apt on this
# machine (read from /etc/apt) and to crates.io. Heavy steps run under `nice -n 19`.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=../lib/nix-headers.sh
. "$repo/scripts/lib/nix-headers.sh"

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit "${1:-2}"
}

version='' suite='' tarball='' mode=test
while [ $# -gt 0 ]; do
    case $1 in
    --suite) suite=$2; shift 2 ;;
    --tarball) tarball=$2; shift 2 ;;
    --nix-only) mode=nix; shift ;;
    --compile-check) mode=compile; shift ;;
    -h | --help) usage 0 ;;
    -*) echo "nix-lane: unknown option $1" >&2; usage ;;
    *) [ -z "$version" ] || usage; version=$1; shift ;;
    esac
done
[ -n "$version" ] || usage
[ "$(id -u)" = 0 ] || { echo "nix-lane: run as root (mmdebstrap and chroot)" >&2; exit 1; }
command -v mmdebstrap >/dev/null || {
    echo "nix-lane: installing mmdebstrap" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends mmdebstrap >/dev/null ||
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends mmdebstrap >/dev/null; }
}

# The SHA-256 of the `git archive` tarballs of the NixOS/nix release tags the lanes use.
release_sha256() {
    case $1 in
    2.28.7) echo aed76ceeac32418b0f6a3227b2cdd3d5b58bc315364aa0a0d88dbb231a84e6ac ;;
    2.31.5) echo b83fffb64743faecdeed970acbcc5cd27d2be0b2ee9252b0350634ab8cabf3a6 ;;
    2.34.8) echo 5144a9feadbf7ddac8913b02f9edb12b9bc243338ffc1acdfa30580f637a241d ;;
    2.35.2) echo cc6addef91dc6e800d52dc52bd0080c322d40471ef9b0d0c5ddb6426d7d8a7b0 ;;
    esac
}

cache=${NIXPROC_LANE_CACHE:-/var/cache/nixproc-sysvinit/lanes}

# Debian's own source package where it is downloadable; a release tarball otherwise.
debian_source=
case $version in
2.26.3) debian_source=2.26.3+dfsg-1; : "${suite:=trixie}" ;;
*) : "${suite:=sid}" ;;
esac
if [ -z "$debian_source" ]; then
    kept="$cache/sources/nix-$version.tar.xz"
    if [ -z "$tarball" ]; then
        tarball=$kept
        [ -n "${NIXPROC_NIX_SOURCES:-}" ] && [ -f "$NIXPROC_NIX_SOURCES/nix-$version.tar.xz" ] &&
            tarball=$NIXPROC_NIX_SOURCES/nix-$version.tar.xz
    fi
    [ -f "$tarball" ] || {
        echo "nix-lane: no source for Nix $version: pass --tarball FILE or set NIXPROC_NIX_SOURCES" \
            "to a directory holding nix-$version.tar.xz" >&2
        exit 1
    }
    want=$(release_sha256 "$version")
    if [ -n "$want" ]; then
        have=$(sha256sum "$tarball" | cut -d' ' -f1)
        [ "$have" = "$want" ] || {
            echo "nix-lane: $tarball has SHA-256 $have, expected $want for Nix $version" >&2
            exit 1
        }
        if [ "$tarball" != "$kept" ]; then
            mkdir -p "$cache/sources"
            cp "$tarball" "$kept.tmp" && mv "$kept.tmp" "$kept"
        fi
    fi
fi

lane="$cache/$suite"
root="$lane/rootfs"
# Inside the root filesystem: Nix's source, its build, its installation, this project.
src=/build/nix-$version
prefix=/opt/nix-$version
work=/project/nix-$version
mirror=$(nixproc_debian_mirror)
started=$(date +%s)

say() { printf 'nix-lane %s (%s) [%4ss]: %s\n' "$version" "$suite" "$(($(date +%s) - started))" "$*" >&2; }

# Runs a bash script inside the root filesystem, with /proc, /sys and /dev mounted in a
# private mount namespace (the mounts vanish with it, even if this script is killed).
in_root() {
    # shellcheck disable=SC2016 # the inner script expands its own arguments $1, $2, $3
    unshare --mount --propagation private -- bash -euc '
        r=$1
        mount -t proc proc "$r/proc"
        mount -t sysfs sysfs "$r/sys"
        mount --rbind /dev "$r/dev"
        cp -L /etc/resolv.conf "$r/etc/resolv.conf"
        exec chroot "$r" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb \
            PATH=$3/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
            PKG_CONFIG_PATH=$3/lib/pkgconfig LD_LIBRARY_PATH=$3/lib CARGO_HOME=/root/.cargo \
            bash -euo pipefail -c "$2"
    ' in_root "$root" "$1" "$prefix"
}

# 1. The root filesystem with Nix's build dependencies, a Rust toolchain new enough for cxx.
make_rootfs() {
    [ -f "$lane/rootfs.done" ] && return
    [ -f "$lane/base.done" ] || make_base
    setup_rootfs
    touch "$lane/rootfs.done"
}

# 1a. A minimal root filesystem of the suite, with the archive's sources configured.
make_base() {
    say "creating the $suite root filesystem"
    rm -rf "$root"
    mkdir -p "$lane"
    local sources=("deb $mirror $suite main" "deb-src $mirror $suite main")
    local aptopts=()
    case $suite in
    trixie) sources+=("deb $mirror trixie-backports main") ;;
    sid | unstable) aptopts+=(--aptopt='Acquire::Check-Valid-Until "false"') ;;
    esac
    nice -n 19 mmdebstrap --variant=apt --mode=root "${aptopts[@]}" \
        --include=passwd,build-essential,dpkg-dev,pkg-config,meson,ninja-build,git,ca-certificates,xz-utils,curl \
        "$suite" "$root" "${sources[@]}"
    touch "$lane/base.done"
}

# 1b. Nix's build dependencies, Rust, Nix's build users and configuration (idempotent).
setup_rootfs() {
    say "installing Nix's build dependencies and Rust"
    local rust_target=
    [ "$suite" = trixie ] && rust_target="-t trixie-backports"
    in_root "
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        if ! nice -n 19 apt-get -y -q build-dep nix; then
            echo 'nix-lane: apt-get build-dep nix failed; installing a fixed list instead' >&2
            nice -n 19 apt-get -y -q install --no-install-recommends \
                bison flex cmake jq libacl1-dev libarchive-dev libboost-dev libboost-context-dev \
                libboost-coroutine-dev libboost-container-dev libboost-iostreams-dev \
                libboost-url-dev libbrotli-dev libbz2-dev libcpuid-dev libcurl4-openssl-dev \
                libeditline-dev libreadline-dev libgc-dev libgit2-dev liblowdown-dev \
                libseccomp-dev libsodium-dev libsqlite3-dev libssl-dev nlohmann-json3-dev \
                libtoml11-dev libblake3-dev libarchive-dev libxml2-utils
        fi
        nice -n 19 apt-get -y -q install --no-install-recommends passwd
        nice -n 19 apt-get -y -q install --no-install-recommends $rust_target rustc cargo
        rustc --version
        getent group nixbld >/dev/null || groupadd -r nixbld
        for i in 1 2 3 4 5 6 7 8; do
            id nixbld\$i >/dev/null 2>&1 ||
                useradd -r -g nixbld -G nixbld -M -N -d /var/empty -s /usr/sbin/nologin nixbld\$i
        done
        mkdir -p /etc/nix
        printf '%s\n' 'sandbox = false' 'build-users-group = nixbld' 'substituters =' >/etc/nix/nix.conf
    "
}

# 1c. What the tests' processes run: libslack's daemon and nginx (the host-packages shim
# links them from /usr). Services are never started by the package scripts here.
ensure_test_programs() {
    [ -x "$root/usr/bin/daemon" ] && [ -x "$root/usr/sbin/nginx" ] && return
    say "installing daemon and nginx for the tests"
    printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
    chmod 755 "$root/usr/sbin/policy-rc.d"
    in_root "
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        nice -n 19 apt-get -y -q install --no-install-recommends daemon nginx
    "
}

# 2. Nix's source inside the root filesystem.
fetch_nix_source() {
    [ -d "$root$src/src/libexpr" ] && return
    rm -rf "$root$src" "$root$src.dl"
    mkdir -p "$root$src.dl"
    if [ -n "$debian_source" ]; then
        say "fetching Debian's source package nix=$debian_source"
        in_root "cd $src.dl && apt-get -q source nix=$debian_source >/dev/null && mv nix-${version}*/ $src"
    else
        say "unpacking $(basename "$tarball")"
        tar -xJf "$tarball" -C "$root$src.dl"
        mv "$root$src.dl/nix-$version" "$root$src"
    fi
    rm -rf "$root$src.dl"
}

# Writes the meson configuration command for Nix's source to stdout: shared
# libraries, Boehm GC, everything not needed by the plugin switched off, and a unity build
# (libnixutil: 146 s one source at a time, 50 s eight at a time, on 2 cores).
meson_setup_cmd() {
    local opts=(-Ddefault_library=shared -Doptimization=1 -Ddebug=false -Dunity=on -Dunity_size=8
        "--prefix=$prefix" --libdir=lib --sysconfdir=/etc --localstatedir=/nix/var
        -Dlibexpr:gc=enabled -Dlibcmd:readline-flavor=readline)
    local o
    for o in doc-gen unit-tests functional-tests bindings benchmarks json-schema-checks html-manual; do
        grep -q "'$o'" "$root$src/meson.options" && opts+=("-D$o=false")
    done
    printf 'meson setup %q %q' "$1" "$src"
    printf ' %q' "${opts[@]}"
    printf '\n'
}

# The subprojects of a Nix version that do not compile as a unity build. In 2.26.3,
# combined sources clash: libstore uses a JSON serializer for std::optional before another
# source declares Nix's specialization of it, libexpr's generated lexer and parser collide,
# and two of the nix command's sources define the same helper.
not_unity() {
    case $1 in
    2.26.3) echo src/libstore src/libexpr src/nix ;;
    esac
}

# Builds the target of each subproject not_unity names one source at a time: an
# `override_options` as the last argument of its `this_library = library(` or
# `this_exe = executable(` call (idempotent).
exclude_from_unity() {
    local dir file
    for dir in $(not_unity "$version"); do
        file=$root$src/$dir/meson.build
        grep -q "override_options : \['unity=off'\]" "$file" && continue
        grep -Eq '^this_(library|exe) = (library|executable)\($' "$file" || {
            echo "nix-lane: $dir/meson.build has no target to exclude from the unity build" >&2
            exit 1
        }
        sed -Ei "/^this_(library|exe) = (library|executable)\(\$/,/^\)\$/ s/^\)\$/  override_options : ['unity=off'],\n)/" "$file"
    done
}

build_nix() {
    [ -f "$lane/nix-$version.done" ] && return
    if [ ! -x "$root$prefix/bin/nix" ]; then
        fetch_nix_source
        exclude_from_unity
        # An interrupted build is resumed: ninja only builds what is missing.
        if [ ! -f "$root$src/build/build.ninja" ]; then
            say "configuring Nix $version (meson, shared libraries)"
            local setup
            setup=$(meson_setup_cmd "$src/build")
            in_root "rm -rf $src/build && cd $src && $setup"
        fi
        say "building Nix $version (ninja, nice -n 19)"
        in_root "nice -n 19 ninja -C $src/build && nice -n 19 meson install -C $src/build --quiet"
    fi
    in_root "nix --version && nix-instantiate --eval -E '1 + 1'"
    touch "$lane/nix-$version.done"
    say "Nix $version installed in the lane"
}

# The configured header tree for --compile-check (meson setup only, in $src/check, apart
# from a build of the same version).
configure_only() {
    fetch_nix_source
    say "configuring Nix $version (meson setup only)"
    local setup
    setup=$(meson_setup_cmd "$src/check")
    in_root "rm -rf $src/check && cd $src && $setup >$src.meson.log 2>&1 || { tail -n 30 $src.meson.log; exit 1; }"
}

# 3. A clean copy of the committed tree.
copy_tree() {
    say "copying the committed tree ($(git -C "$repo" rev-parse --short HEAD))"
    rm -rf "$root$work/src"
    mkdir -p "$root$work/src"
    git -C "$repo" archive HEAD | tar -x -C "$root$work/src"
}

# Certificate authorities this machine trusts locally (e.g. for a proxy in front of
# crates.io) are trusted inside the root filesystem too.
trust_local_cas() {
    local crt any=
    for crt in /usr/local/share/ca-certificates/*.crt; do
        [ -f "$crt" ] || continue
        mkdir -p "$root/usr/local/share/ca-certificates"
        cmp -s "$crt" "$root/usr/local/share/ca-certificates/${crt##*/}" && continue
        cp "$crt" "$root/usr/local/share/ca-certificates/"
        any=1
    done
    [ -z "$any" ] || in_root "update-ca-certificates >/dev/null"
}

run_tests() {
    ensure_test_programs
    trust_local_cas
    copy_tree
    say "building the plugin; running the plugin:: and nix_profiles:: tests against Nix $version"
    in_root "
        cd $work/src
        export CARGO_TARGET_DIR=$work/target NIXPROC_PLUGIN=$work/target/release/libnixproc_sysvinit_plugin.so
        nix --version
        nice -n 19 cargo build --release -p nixproc-sysvinit-plugin
        # One test binary holds every topic; the filters select these two (test names are
        # TOPIC::TEST); the binary's other tests need this machine's set-up, not the lane's.
        nice -n 19 cargo test --release --test integration -- --test-threads=2 plugin:: nix_profiles::
    "
}

compile_check() {
    copy_tree
    say "compiling the plugin's C++ against the configured Nix $version headers"
    in_root "cd $work/src && sh cpp-bridge/compile-check.sh $src $src/check"
}

make_rootfs
case $mode in
nix) build_nix ;;
compile)
    configure_only
    compile_check
    ;;
test)
    build_nix
    run_tests
    ;;
esac
say "done"
