# The Nix daemon, deployed by scripts/setup.sh as a process like any other (profile
# `nix-daemon`), so that users other than root can build and deploy: their Nix commands
# reach the store through the daemon's socket, and the daemon gives each user its own
# profile and GC-root directories under /nix/var/nix/{profiles,gcroots}/per-user.
#
#   nixproc-sysvinit-switch --profile nix-daemon scripts/nix-daemon/processes.nix
#
# On a system with nixpkgs pass `pkgs`; `nixDaemon` names another daemon binary.
{ system ? builtins.currentSystem
, pkgs ? import ../../nix/host-packages.nix { inherit system; }
, stateDir ? "/var"
, runtimeDir ? "${stateDir}/run"
, logDir ? "${stateDir}/log"
, tmpDir ? (if stateDir == "/var" then "/tmp" else "${stateDir}/tmp")
, forceDisableUserChange ? false
, nixDaemon ? "${pkgs.nix}/bin/nix-daemon"
}:

let
  createSystemVInitScript = import ../../nix/create-sysvinit-script.nix {
    inherit (pkgs) stdenv writeTextFile daemon;
    inherit runtimeDir tmpDir logDir forceDisableUserChange;
    initFunctions = import ../../nix/init-functions.nix {
      basePackages = [ pkgs.coreutils pkgs.gnused pkgs.gnugrep pkgs.sysvinit pkgs.util-linux ];
      inherit (pkgs) stdenv daemon;
      inherit runtimeDir;
    };
    createCredentials = import ../../nix/create-credentials.nix { inherit (pkgs) stdenv; };
  };
in
{
  nix-daemon.pkg = createSystemVInitScript {
    name = "nix-daemon";
    description = "Nix daemon: builds and store access for every user";
    process = nixDaemon;
    # It stays in the foreground; libslack daemon keeps its PID file and its log.
    processIsDaemon = false;
    runlevels = [ 2 3 4 5 ];
  };
}
