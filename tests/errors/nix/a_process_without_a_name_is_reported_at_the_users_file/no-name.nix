import @root@/tests/errors/nix/create.nix (create: {
  web = create {
    process = "/bin/true";
  };
})
