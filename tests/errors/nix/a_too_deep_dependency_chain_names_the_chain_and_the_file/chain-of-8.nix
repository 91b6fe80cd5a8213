import @root@/tests/errors/nix/create.nix (create:
  let
    chain = builtins.foldl' (prev: i: [ (create {
      name = "p${toString i}";
      process = "/bin/true";
      dependencies = prev;
    }) ]) [ ] (builtins.genList (i: i) 8);
  in { last = builtins.head chain; })
