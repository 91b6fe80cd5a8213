# Constructor of a webapp instance: the example HTTP server run in the foreground under
# the supervisor (restarted if it crashes, its output in a size-rotated log), listening
# on PORT, as its own user and group.
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
  # Restarted after a crash, at most 5 times a minute (then `status` says it failed).
  respawn = true;
  user = instanceName;
  credentials = {
    groups.${instanceName} = { };
    users.${instanceName} = { group = instanceName; description = "Example web application"; };
  };
}
