import @root@/tests/errors/nix/create.nix (create: {
  web = create {
    name = 5;
    process = "/bin/true";
  };
})
