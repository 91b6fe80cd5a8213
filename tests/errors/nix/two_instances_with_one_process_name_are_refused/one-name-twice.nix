import @root@/tests/errors/nix/create.nix (create: {
  a = create { name = "web"; process = "/bin/true"; };
  b = { pkg = create { name = "web"; process = "/bin/false"; }; };
})
