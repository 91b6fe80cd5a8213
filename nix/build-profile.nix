# Builds a profile: ONE store path that is the union of the process trees of a
# processes model.
#
# Interface (what nixproc-sysvinit-switch and users call):
#
#   nix-build nix/build-profile.nix \
#     --arg exprFile ./processes.nix        # required: path of the processes model
#     --argstr stateDir /var                # optional, default "/var"
#     --argstr runtimeDir /var/run          # optional, default "${stateDir}/run"
#     --argstr logDir /var/log              # optional, default "${stateDir}/log"
#     --argstr tmpDir /tmp                  # optional, default "/tmp" for stateDir "/var",
#                                           #   else "${stateDir}/tmp"
#     --argstr cacheDir /var/cache          # optional, default "${stateDir}/cache"; also
#                                           #   spoolDir, lockDir, libDir (nix-processmgmt's
#                                           #   names), passed to models that declare them
#     --arg forceDisableUserChange true     # optional, default false
#     --argstr extraParams '{"webappPort":6000}'
#                                           # optional: a JSON object (or a Nix attribute
#                                           #   set with --arg) of extra arguments for the
#                                           #   model; only those it declares are passed
#     --arg pkgs 'import <nixpkgs> {}'      # optional, default the host-packages shim
#
# Rendering happens at evaluation time when Nix loads this project's plugin (give
# `--option plugin-files LIB.so` to nix-build BEFORE its other arguments), otherwise at
# build time with nixproc-sysvinit-render, which the host-packages shim copies from
# $NIXPROC_SYSVINIT_BIN (default <repository>/target/release). Add
# `--option substituters ""` on machines without network access to skip binary-cache
# look-ups.
#
# The model is a function in the shape of nix-processmgmt's processes.nix:
#
#   { pkgs, system, stateDir, runtimeDir, logDir, tmpDir, cacheDir, spoolDir, lockDir,
#     libDir, forceDisableUserChange, processManager, ... }:
#   { INSTANCE = { pkg = <process derivation>; ... }; ... }
#
# It receives only the arguments it declares (plus extraParams it declares);
# `processManager` is "sysvinit". Each instance is either a derivation or an attribute
# set with `pkg`; instances whose value is null are skipped. The result holds
# etc/rc.d/init.d, etc/rc.d/rcN.d, dysnomia-support and share/nixproc-sysvinit/processes
# as real directories whose entries are symlinks to the same entries of the process
# store paths (an rc.d entry thus resolves through the process's own relative link).
# Two instances defining a process of the same name are an evaluation error naming
# both; any other file provided twice fails the build.
{ exprFile
, system ? builtins.currentSystem
, pkgs ? import ./host-packages.nix { inherit system; }
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
, name ? "nixproc-sysvinit-profile"
}:

let
  lib = import ./lib.nix;

  extra =
    if builtins.isString extraParams then
      (if extraParams == "" then { } else builtins.fromJSON extraParams)
    else extraParams;

  model = import exprFile;

  available = {
    inherit pkgs system stateDir runtimeDir logDir tmpDir cacheDir spoolDir lockDir libDir
      forceDisableUserChange;
    processManager = "sysvinit";
  } // extra;

  processes =
    if builtins.isFunction model then
      model (builtins.intersectAttrs (builtins.functionArgs model) available)
    else model;

  where = " in ${toString exprFile}";

  packageOf = instance:
    let value = processes.${instance}; in
    if value == null then null
    else if builtins.isAttrs value && value.type or null == "derivation" then value
    else if builtins.isAttrs value && value ? pkg then value.pkg
    else throw ("processes model${where}: instance '${instance}' must be a derivation "
      + "or an attribute set with 'pkg', got "
      + (if builtins.isAttrs value then "an attribute set without 'pkg'" else lib.kindOf value));

  # { instance; pkg; } for every instance that is not null.
  entries = builtins.filter (e: e.pkg != null)
    (map (i: { instance = i; pkg = packageOf i; }) (builtins.attrNames processes));

  # Two instances rendering a process of the same name would overwrite each other.
  # Checked in linear time; the error path looks for the clashing pair.
  named = builtins.concatMap
    (e:
      if e.pkg ? processName then [ { name = e.pkg.processName; value = e.instance; } ]
      else [ ])
    entries;
  byName = builtins.listToAttrs named;
  clash = builtins.foldl'
    (found: entry:
      if found != null then found
      else if byName.${entry.name} != entry.value then entry
      else null)
    null
    named;
  namesUnique =
    if builtins.length (builtins.attrNames byName) == builtins.length named then true
    else throw ("processes model${where}: instances '${byName.${clash.name}}' and "
      + "'${clash.value}' both define a process named '${clash.name}'");

  paths = builtins.catAttrs "pkg" entries;
in
if !(builtins.isAttrs processes) then
  throw "processes model${where}: must evaluate to an attribute set of instances, got ${lib.kindOf processes}"
else
  builtins.seq namesUnique (derivation (lib.builderFor {
    stdenv = pkgs.stdenv or null;
    coreutils = pkgs.coreutils or null;
  } // {
    inherit name system;
    paths = map toString paths;
    args = [
      "-c"
      ''
        set -e
        mkdir -p "$out"
        for p in $paths; do
          # Directories become real directories, files become symlinks into $p;
          # cp refuses (and the build fails) when two processes provide one file.
          cp -rs --no-preserve=mode "$p"/* "$out"/ || {
            echo "profile: $p provides a file that another process already provides" >&2
            exit 1
          }
        done
      ''
    ];
    preferLocalBuild = true;
    allowSubstitutes = false;
  }))
