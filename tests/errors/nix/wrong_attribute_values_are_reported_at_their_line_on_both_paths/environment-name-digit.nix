import @root@/tests/errors/nix/create.nix (create: {
  web = create {
    name = "web";
    process = "/bin/true";
    environment."1PORT" = 5000;
  };
})
