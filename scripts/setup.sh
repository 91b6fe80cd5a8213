#!/usr/bin/env bash
# Prepares a Debian 12 machine for building, testing and demonstrating nixproc-sysvinit.
#
# Run as root from anywhere: `scripts/setup.sh`. Safe to run again: every step either is
# idempotent (apt-get install, cargo build) or caches its downloads in the project's ignored
# .nixproc/ directory.
#
# What it does:
#   1. apt-get update once, then installs Nix (nix-bin), libslack daemon, nginx, curl, the
#      libraries and tools the evaluator plugin needs, GNU time for the benchmarks, and
#      for scripts/lint: ShellCheck, clang-format and git; for the multi-host tests' test
#      hosts (scripts/test-hosts): OpenSSH's server and client, iproute2 and sudo (their
#      non-root logins). No service a package brings (nginx, sshd) is started: a
#      policy-rc.d refuses them during the install.
#   2. Makes sure /etc/nix/nix.conf contains `sandbox = false` (appended when missing; other
#      lines are kept), and that the build users Nix's `build-users-group` names exist: the
#      `nixbld` group and nixbld1..32, as Nix's multi-user installer makes them (ids 30000+
#      when free). Debian's nix-bin without its recommends creates none. Existing ones are kept.
#   3. Prepares Nix's C++ headers for the installed `nix --version`: from `pkg-config
#      nix-expr` when that points at real headers, otherwise from Debian's source package of
#      exactly that version (see scripts/lib/nix-headers.sh), with a generated config.h.
#      Optionally prepares Nix 2.26.3 headers (Debian trixie's source package) for the
#      compile check of the plugin's second API shim; a failure there is only reported.
#   4. Builds the release binaries, the examples (the demo's webapp) and the plugin.
#
# Where things end up (CARGO_TARGET_DIR is honoured, default ./target):
#   $TARGET/release/nixproc-sysvinit-{render,switch,runactivity}
#   $TARGET/release/examples/webapp                      the demo's web application
#   $TARGET/release/libnixproc_sysvinit_plugin.so       the Nix plugin
#   .nixproc/plugin-path    one line: the absolute path of that plugin
#   .nixproc/nix-headers/VERSION/include                 header trees per Nix version
#
# Load the plugin with: nix-instantiate --option plugin-files "$(cat .nixproc/plugin-path)" ...
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
state="$root/.nixproc"
# shellcheck source=scripts/lib/nix-headers.sh
. "$root/scripts/lib/nix-headers.sh"

step() { printf '==> %s\n' "$*"; }

if [ "$(id -u)" -ne 0 ]; then
    echo "setup.sh: must run as root (it installs packages and edits /etc/nix/nix.conf)" >&2
    exit 1
fi

packages=(
    nix-bin daemon nginx insserv time passwd procps util-linux diffutils
    g++ pkg-config libgc-dev nlohmann-json3-dev libboost-dev
    dpkg-dev xz-utils ca-certificates debian-archive-keyring curl
    shellcheck clang-format git
    openssh-server openssh-client iproute2 sudo
)
step "installing packages: ${packages[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Packages must not start their services here (the tests start their own nginx and sshd).
policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    made_policy=1
fi
if ! apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null; then
    [ "$made_policy" -eq 0 ] || rm -f "$policy"
    echo "setup.sh: apt-get install failed" >&2
    exit 1
fi
[ "$made_policy" -eq 0 ] || rm -f "$policy"

step "checking /etc/nix/nix.conf"
mkdir -p /etc/nix
touch /etc/nix/nix.conf
if ! grep -Eq '^[[:space:]]*sandbox[[:space:]]*=[[:space:]]*false[[:space:]]*$' /etc/nix/nix.conf; then
    if grep -Eq '^[[:space:]]*sandbox[[:space:]]*=' /etc/nix/nix.conf; then
        echo "setup.sh: /etc/nix/nix.conf sets sandbox to something else; appending 'sandbox = false', which takes precedence" >&2
    fi
    printf '\nsandbox = false\n' >>/etc/nix/nix.conf
fi

# The group Nix builds under as root (nix.conf's build-users-group, `nixbld` by default) and
# its members. Nix refuses to build when the group is missing and waits when no member is free.
build_group=$(awk -F= '/^[[:space:]]*build-users-group[[:space:]]*=/ { gsub(/[[:space:]]/, "", $2); g = $2 } END { print g }' /etc/nix/nix.conf)
build_group=${build_group:-nixbld}
step "checking Nix build users (group $build_group)"
if ! getent group "$build_group" >/dev/null; then
    if getent group 30000 >/dev/null; then groupadd -r "$build_group"; else groupadd -g 30000 "$build_group"; fi
    echo "created group $build_group"
fi
build_gid=$(getent group "$build_group" | cut -d: -f3)
created=0
for i in $(seq 1 "${NIXPROC_BUILD_USERS:-32}"); do
    user="$build_group$i"
    if getent passwd "$user" >/dev/null; then
        # Kept as it is, but it must be a member for Nix to pick it.
        id -nG "$user" | tr ' ' '\n' | grep -qx "$build_group" || usermod -a -G "$build_group" "$user"
        continue
    fi
    uid_opt=(-r)
    if ! getent passwd $((30000 + i)) >/dev/null; then uid_opt=(-u $((30000 + i))); fi
    useradd "${uid_opt[@]}" -g "$build_gid" -G "$build_group" -M -d /var/empty \
        -s /usr/sbin/nologin -c "Nix build user $i" "$user"
    created=$((created + 1))
done
[ "$created" -eq 0 ] || echo "created $created build users"

nix_version=$(nix --version | awk '{print $NF}')
step "preparing headers for Nix $nix_version"
mkdir -p "$state"
export PKG_CONFIG_PATH="${PKG_CONFIG_PATH:+$PKG_CONFIG_PATH:}/usr/lib/nix/pkgconfig"
pc_inc=""
if pkg-config --exists nix-expr 2>/dev/null; then
    for flag in $(pkg-config --cflags-only-I nix-expr); do
        dir=${flag#-I}
        if [ -f "$dir/eval.hh" ]; then pc_inc=$dir; fi
    done
fi
if [ -n "$pc_inc" ]; then
    echo "pkg-config nix-expr provides headers in $pc_inc"
else
    headers="$state/nix-headers/$nix_version"
    if [ -f "$headers/include/nix/eval.hh" ] && [ "$(cat "$headers/VERSION" 2>/dev/null)" = "$nix_version" ]; then
        echo "headers already in $headers"
    else
        source_version=$(dpkg-query -W -f='${source:Version}' nix-bin)
        src=$(nixproc_fetch_nix_source "$state" bookworm "$source_version") || {
            echo "setup.sh: could not fetch Debian's source package nix=$source_version" >&2
            exit 1
        }
        nixproc_install_headers "$src" "$headers" "$nix_version"
        echo "headers installed in $headers"
    fi
fi

step "preparing Nix 2.26.3 sources for the API compile check (optional)"
if [ -d "$state/src/nix-2.26.3+dfsg-1/src/libexpr" ] ||
    nixproc_fetch_nix_source "$state" trixie 2.26.3+dfsg-1 >/dev/null; then
    echo "Nix 2.26.3 sources in $state/src/nix-2.26.3+dfsg-1"
else
    echo "warning: Nix 2.26.3 sources unavailable; the 2.26 compile check will be skipped" >&2
fi

if ! command -v cargo >/dev/null; then
    echo "setup.sh: cargo not found; install a Rust toolchain (1.75 or newer) and run again" >&2
    exit 1
fi

step "building release binaries and examples"
cd "$root"
cargo build --release --bins --examples
step "building the Nix plugin"
cargo build --release -p nixproc-sysvinit-plugin
target_dir=${CARGO_TARGET_DIR:-$root/target}
case $target_dir in /*) ;; *) target_dir="$root/$target_dir" ;; esac
plugin="$target_dir/release/libnixproc_sysvinit_plugin.so"
if [ ! -f "$plugin" ]; then
    echo "setup.sh: the plugin was not built at $plugin" >&2
    exit 1
fi
printf '%s\n' "$plugin" >"$state/plugin-path"
step "plugin: $plugin (path recorded in .nixproc/plugin-path)"

# The Nix daemon, so that users other than root can build and deploy (they cannot write
# the store themselves). It is deployed with this project's own switch as the profile
# `nix-daemon`, started if it is not running, and linked into /etc/init.d with rc.d links
# (update-rc.d), so the system's init starts it at boot. A daemon that systemd already
# manages (Debian's nix-setup-systemd) is left alone.
step "Nix daemon for users other than root"
# Root's services keep their PID files in /var/run (that is /run): init-functions trusts
# none in a directory others can write. Debian makes /run 0755; a /run mounted without a
# mode (a bare tmpfs is 1777) is set to that.
run_dir=$(readlink -f /var/run)
if [ "$(stat -c %u "$run_dir")" = 0 ] && [ $((0$(stat -c %a "$run_dir") & 022)) -ne 0 ]; then
    echo "$run_dir is writable by others (mode $(stat -c %a "$run_dir")); setting it to 0755 as Debian has it"
    chmod 0755 "$run_dir"
fi
if [ -d /run/systemd/system ] && systemctl is-enabled --quiet nix-daemon.socket 2>/dev/null; then
    echo "systemd manages nix-daemon.socket; not deploying another daemon"
else
    "$target_dir/release/nixproc-sysvinit-switch" --profile nix-daemon --quiet \
        "$root/scripts/nix-daemon/processes.nix"
    "$target_dir/release/nixproc-sysvinit-runactivity" --profile nix-daemon start
    boot_script=/nix/var/nix/profiles/nixproc-sysvinit/nix-daemon/etc/rc.d/init.d/nix-daemon
    if [ -e /etc/init.d/nix-daemon ] && [ "$(readlink /etc/init.d/nix-daemon)" != "$boot_script" ]; then
        echo "warning: /etc/init.d/nix-daemon exists and is not this project's; not starting the daemon at boot" >&2
    else
        ln -sfn "$boot_script" /etc/init.d/nix-daemon
        if command -v update-rc.d >/dev/null; then
            update-rc.d nix-daemon defaults >/dev/null
        fi
        echo "nix-daemon runs; /etc/init.d/nix-daemon starts it at boot"
    fi
fi
