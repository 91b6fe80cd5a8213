# Constructor of an nginx reverse proxy in front of webapp instances. The instances are
# its dependencies, so they start before nginx and stop after it.
{ createSystemVInitScript, writeTextFile, nginx, stateDir, runtimeDir, logDir }:
{ webapps, port ? 8080, address ? "127.0.0.1", instanceName ? "nginx" }:

let
  nginxStateDir = "${stateDir}/${instanceName}";
  nginxLogDir = "${logDir}/${instanceName}";
  # The PID file the script derives for this process: runtimeDir/<instanceName>.pid.
  pidFile = "${runtimeDir}/${instanceName}.pid";

  configFile = writeTextFile {
    name = "${instanceName}.conf";
    text = ''
      pid ${pidFile};
      error_log ${nginxLogDir}/error.log;
      worker_processes 1;

      events {
        worker_connections 256;
      }

      http {
        access_log ${nginxLogDir}/access.log;
        client_body_temp_path ${nginxStateDir}/client_body;
        proxy_temp_path ${nginxStateDir}/proxy;
        fastcgi_temp_path ${nginxStateDir}/fastcgi;
        uwsgi_temp_path ${nginxStateDir}/uwsgi;
        scgi_temp_path ${nginxStateDir}/scgi;

        upstream webapps {
      ${builtins.concatStringsSep "" (map (w: "    server 127.0.0.1:${toString w.port};\n") webapps)}  }

        server {
          listen ${address}:${toString port};
          location / {
            proxy_pass http://webapps;
          }
        }
      }
    '';
  };
in
createSystemVInitScript {
  inherit instanceName;
  description = "Nginx reverse proxy";
  initialize = ''
    mkdir -p ${nginxStateDir} ${nginxLogDir}
  '';
  process = "${nginx}/bin/nginx";
  args = [ "-c" configFile "-p" nginxStateDir "-e" "${nginxLogDir}/error.log" ];
  runlevels = [ 3 4 5 ];
  readiness = { tcpPort = port; };
  # nginx writes these itself: the profile gets a logrotate configuration for them
  # (etc/logrotate.d/nginx), which has nginx reopen them through `reload`.
  logFiles = [ "${nginxLogDir}/access.log" "${nginxLogDir}/error.log" ];
  dependencies = map (w: w.pkg) webapps;
}
