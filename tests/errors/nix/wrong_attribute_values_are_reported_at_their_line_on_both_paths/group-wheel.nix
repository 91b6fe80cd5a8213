import @root@/tests/errors/nix/create.nix (create: {
  web = create {
    name = "web";
    process = "/bin/true";
    credentials.groups.wheel = { };
  };
})
