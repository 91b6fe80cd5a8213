import @root@/tests/errors/nix/create.nix (create: {
  web = create {
    name = "web";
    process = "/bin/true";
    instructions.start = { activity = "Starting"; instructon = "true"; };
  };
})
