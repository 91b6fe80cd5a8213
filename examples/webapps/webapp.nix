# Constructor of a webapp instance: the example HTTP server run in the foreground
# (daemonized by libslack daemon), listening on PORT, as its own user and group.
{ createSystemVInitScript, webapp }:
{ instanceSuffix ? "", instanceName ? "webapp${instanceSuffix}", port ? 5000 }:

createSystemVInitScript {
  inherit instanceName;
  description = "Example web application ${instanceName}";
  process = "${webapp}/bin/webapp";
  processIsDaemon = false;
  runlevels = [ 3 4 5 ];
  environment = {
    PORT = port;
    INSTANCE = instanceName;
  };
  # Start returns once the instance accepts connections.
  readiness = { tcpPort = port; };
  user = instanceName;
  credentials = {
    groups.${instanceName} = { };
    users.${instanceName} = { group = instanceName; description = "Example web application"; };
  };
}
