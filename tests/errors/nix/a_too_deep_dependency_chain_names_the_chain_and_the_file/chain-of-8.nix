{ pkgs, stateDir, ... }:
let
  create = import @root@/nix/create-sysvinit-script.nix {
    inherit (pkgs) stdenv writeTextFile daemon;
    runtimeDir = "${stateDir}/run";
    maxSequence = 5;
  };
in
let
  chain = builtins.foldl' (prev: i: [ (create {
    name = "p${toString i}";
    process = "/bin/true";
    dependencies = prev;
  }) ]) [ ] (builtins.genList (i: i) 8);
in { last = builtins.head chain; }
