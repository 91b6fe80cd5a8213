# The same deployment with more webapp instances, for upgrade tests: switching from
# processes.nix to this model starts webapp3 and webapp4 and restarts nginx (its
# configuration changed); the first two instances are left alone.
{ system ? builtins.currentSystem
, pkgs ? import ../../nix/host-packages.nix { inherit system; }
, stateDir ? "/var"
, runtimeDir ? "${stateDir}/run"
, logDir ? "${stateDir}/log"
, tmpDir ? (if stateDir == "/var" then "/tmp" else "${stateDir}/tmp")
, forceDisableUserChange ? false
, webappInstances ? 4
, webappBasePort ? 5000
, nginxPort ? 8080
}@args:

import ./processes.nix (args // { inherit webappInstances; })
