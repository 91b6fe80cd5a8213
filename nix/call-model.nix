# Calls a processes model the way the tools deploy it; build-profile.nix and
# id-requirements.nix both use it, so that the ids assigned for a model are those of the
# model a deployment builds.
#
#   import ./call-model.nix {
#     exprFile = ./processes.nix;          # required: path of the processes model
#     # optional, with these defaults:
#     system = builtins.currentSystem; pkgs = null; stateDir = "/var";
#     runtimeDir = "${stateDir}/run"; logDir = "${stateDir}/log";
#     tmpDir = "/tmp" for stateDir "/var", else "${stateDir}/tmp";
#     cacheDir, spoolDir, lockDir, libDir = "${stateDir}/cache" ...;
#     forceDisableUserChange = false;
#     extraParams = { };                   # an attribute set, or a JSON object as text
#     cliArgs = { };                       # the tools' --arg/--argstr values
#   }
#
# returns { processes; packageSet; chosenPkgs; system; where; }: the model's instances
# (the model called with the arguments it declares, `processManager = "sysvinit"` among
# them, then extraParams and cliArgs it declares), which package set it got (see "The
# package set" in build-profile.nix), the package set and the system the profile's own
# builders use, and " in FILE" for messages. Nothing is forced here: a model that never uses `pkgs` never evaluates
# one.
{ exprFile
, system ? builtins.currentSystem
, pkgs ? null
, stateDir ? "/var"
, runtimeDir ? "${stateDir}/run"
, logDir ? "${stateDir}/log"
, tmpDir ? (if stateDir == "/var" then "/tmp" else "${stateDir}/tmp")
, cacheDir ? "${stateDir}/cache"
, spoolDir ? "${stateDir}/spool"
, lockDir ? "${stateDir}/lock"
, libDir ? "${stateDir}/lib"
, forceDisableUserChange ? false
, extraParams ? { }
, cliArgs ? { }
}:

let
  extra =
    if builtins.isString extraParams then
      (if extraParams == "" then { } else builtins.fromJSON extraParams)
    else extraParams;

  model = import exprFile;

  nixpkgsFound = builtins.tryEval (builtins.findFile builtins.nixPath "nixpkgs");
  modelArgs = if builtins.isFunction model then builtins.functionArgs model else { };
  packageSet =
    if !(modelArgs ? pkgs) then "none (the model takes no pkgs)"
    else if pkgs != null then "given"
    else if !nixpkgsFound.success then "host-packages shim"
    else if modelArgs.pkgs or false then "model default"
    else "nixpkgs";
  chosenPkgs =
    if pkgs != null then pkgs
    else if nixpkgsFound.success then import nixpkgsFound.value { inherit system; }
    else import ./host-packages.nix { inherit system; };
  # Left out when the model's own default is to be used.
  pkgsArg = if packageSet == "model default" then { } else { pkgs = chosenPkgs; };

  available = pkgsArg // {
    inherit system stateDir runtimeDir logDir tmpDir cacheDir spoolDir lockDir libDir
      forceDisableUserChange;
    processManager = "sysvinit";
  } // extra // cliArgs;
in
{
  processes =
    if builtins.isFunction model then
      model (builtins.intersectAttrs modelArgs available)
    else model;
  inherit packageSet chosenPkgs system;
  where = " in ${toString exprFile}";
}
