import @root@/tests/errors/nix/create.nix (create: {
  web = { pkg = create {
    name = "web";
    proces = "/bin/true";
  }; };
})
