{ pkgs, stateDir, ... }:
let
  create = import @root@/nix/create-sysvinit-script.nix {
    inherit (pkgs) stdenv writeTextFile daemon;
    runtimeDir = "${stateDir}/run";
    maxSequence = 5;
  };
in
{
  web = create {
    name = "web";
    process = "/bin/true";
    activities."re start" = "true";
  };
}
