# A processes model: webapp instances behind an nginx reverse proxy.
#
#   nix-build ../../nix/build-profile.nix --arg exprFile ./processes.nix \
#     --argstr stateDir /tmp/demo --argstr extraParams '{"nginxPort":8080}'
#
# Every argument has a default; the profile builder passes the ones declared here.
{ system ? builtins.currentSystem
, pkgs ? import ../../nix/host-packages.nix { inherit system; }
, stateDir ? "/var"
, runtimeDir ? "${stateDir}/run"
, logDir ? "${stateDir}/log"
, tmpDir ? (if stateDir == "/var" then "/tmp" else "${stateDir}/tmp")
, forceDisableUserChange ? false
, webappInstances ? 2
, webappBasePort ? 5000
, nginxPort ? 8080
  # The address nginx listens on; "0.0.0.0" serves other machines too.
, nginxAddress ? "127.0.0.1"
}:

let
  # The functions of nix/ composed with these settings (nix/default.nix).
  nixproc = import ../../nix {
    inherit system pkgs stateDir runtimeDir logDir tmpDir forceDisableUserChange;
  };
  inherit (nixproc) createSystemVInitScript;

  webappConstructor = import ./webapp.nix {
    inherit createSystemVInitScript;
    inherit (pkgs) webapp;
  };

  nginxConstructor = import ./nginx-reverse-proxy.nix {
    inherit createSystemVInitScript stateDir runtimeDir logDir;
    inherit (pkgs) writeTextFile nginx;
  };

  # webapp1, webapp2, ... on consecutive ports.
  webapps = builtins.genList
    (i: rec {
      name = "webapp${toString (i + 1)}";
      port = webappBasePort + i;
      pkg = webappConstructor { instanceSuffix = toString (i + 1); inherit port; };
    })
    webappInstances;
in
builtins.listToAttrs (map (w: { inherit (w) name; value = w; }) webapps) // {
  nginx = rec {
    port = nginxPort;
    pkg = nginxConstructor { inherit webapps port; address = nginxAddress; };
  };
}
