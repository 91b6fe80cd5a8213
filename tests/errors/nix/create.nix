# The part every Nix error case shares: a case is
#
#   import @root@/tests/errors/nix/create.nix (create: { ... })
#
# where `create` is nix/create-sysvinit-script.nix applied to the arguments below, and
# the function's result is the case's processes; what comes out is the processes model
# build-profile.nix evaluates. The case's own file stays where its errors point.
processes:
{ pkgs, stateDir, ... }:
let
  create = import ../../../nix/create-sysvinit-script.nix {
    inherit (pkgs) stdenv writeTextFile daemon;
    runtimeDir = "${stateDir}/run";
    maxSequence = 5;
  };
in
processes create
