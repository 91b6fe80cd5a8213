# Entry point: every function of this directory composed with one set of global
# settings, for users who do not want to compose them by hand.
#
#   let
#     nixproc = import ./nix { stateDir = "/var"; forceDisableUserChange = false; };
#   in
#   nixproc.createSystemVInitScript { name = "nginx"; process = "..."; }
#
# `pkgs` defaults to the host-packages shim (./host-packages.nix); pass a nixpkgs
# package set (with `nixproc-sysvinit` from this project's overlay) on systems that
# have one.
{ system ? builtins.currentSystem
, pkgs ? import ./host-packages.nix { inherit system; }
, stateDir ? "/var"
, runtimeDir ? "${stateDir}/run"
, logDir ? "${stateDir}/log"
, tmpDir ? (if stateDir == "/var" then "/tmp" else "${stateDir}/tmp")
, forceDisableUserChange ? false
, usePlugin ? builtins ? sysvinitScript
  # How the output of foreground processes is rotated when a process does not say
  # (see create-sysvinit-script.nix): null for the default, { maxSize; keep; } or false.
, logRotate ? null
}:

let
  isShim = pkgs.stdenv.isShim or false;
  nixprocSysvinit = pkgs.nixproc-sysvinit or null;
  coreutils = if isShim then null else pkgs.coreutils;
in
rec {
  inherit pkgs;

  initFunctions = import ./init-functions.nix {
    basePackages = [ pkgs.coreutils pkgs.gnused pkgs.inetutils pkgs.gnugrep pkgs.sysvinit ]
      ++ (if pkgs ? util-linux then [ pkgs.util-linux ] else [ ]);
    inherit (pkgs) stdenv daemon;
    inherit runtimeDir coreutils nixprocSysvinit;
  };

  createCredentials = import ./create-credentials.nix {
    inherit (pkgs) stdenv;
    inherit nixprocSysvinit usePlugin coreutils;
  };

  createSystemVInitScript = import ./create-sysvinit-script.nix {
    inherit (pkgs) stdenv writeTextFile daemon;
    inherit runtimeDir tmpDir logDir forceDisableUserChange initFunctions createCredentials
      nixprocSysvinit usePlugin coreutils logRotate;
  };

  # buildProfile { exprFile = ./processes.nix; } — see ./build-profile.nix.
  buildProfile = args: import ./build-profile.nix ({
    inherit system pkgs stateDir runtimeDir logDir tmpDir forceDisableUserChange;
  } // args);
}
