# The same deployment with more webapp instances, for upgrade tests: switching from
# processes.nix to this model starts webapp3 and webapp4 and restarts nginx (its
# configuration changed); the first two instances are left alone.
#
# It takes the arguments of processes.nix, declared here because the profile builder
# passes a model only those it declares; the ones given are handed on, the others keep
# processes.nix's defaults.
{ system ? null
, pkgs ? null
, stateDir ? null
, runtimeDir ? null
, logDir ? null
, tmpDir ? null
, forceDisableUserChange ? null
, webappInstances ? 4
, webappBasePort ? null
, nginxPort ? null
, nginxAddress ? null
}@args:

import ./processes.nix (args // { inherit webappInstances; })
