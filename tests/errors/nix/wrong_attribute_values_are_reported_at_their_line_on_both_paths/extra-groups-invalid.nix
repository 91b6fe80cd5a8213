import @root@/tests/errors/nix/create.nix (create: {
  web = create {
    name = "web";
    process = "/bin/true";
    credentials.users.web = { group = "web"; extraGroups = [ "ok" "not ok" ]; };
  };
})
