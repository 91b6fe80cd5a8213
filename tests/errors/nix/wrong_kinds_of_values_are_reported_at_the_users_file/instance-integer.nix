import @root@/tests/errors/nix/create.nix (create: {
  web = 3;
})
