# Composes `createSystemVInitScript`, the function that turns one process description
# into one derivation holding its LSB init script, rc.d links, credential files and
# manifest:
#
#   etc/rc.d/init.d/NAME                        the script (executable)
#   etc/rc.d/rcN.d/{S,K}NNNAME -> ../init.d/NAME
#   dysnomia-support/{groups,users}/NAME        when the process has credentials
#   share/nixproc-sysvinit/processes/NAME.json  manifest read by nixproc-sysvinit-switch
#
# Compose it once with the global settings, then call it once per process:
#
#   createSystemVInitScript = import ./create-sysvinit-script.nix {
#     inherit (pkgs) stdenv writeTextFile daemon;
#     inherit runtimeDir tmpDir forceDisableUserChange;
#     initFunctions = import ./init-functions.nix { ... };
#     createCredentials = import ./create-credentials.nix { inherit (pkgs) stdenv; };
#   };
#
# Every argument has a default. Those left `null` mean "the renderer's default".
#
# nix-processmgmt's arguments and spellings are accepted with its meaning: `lib`,
# `supportedRunlevels`, the `ids` of its createCredentials, and per process
# `postInstall` and numeric strings for `nice` (./upstream-compat.nix lists them all).
#
# Rendering. When Nix runs with this project's evaluator plugin (`builtins ?
# sysvinitScript`), the script is rendered during evaluation and the derivation only
# writes files. Otherwise the derivation runs `nixproc-sysvinit-render` at build time.
# Both paths use the same Rust renderer and give identical trees. Set `usePlugin =
# false` to force the second path.
#
# The returned derivation also carries `processName`, `sequence` and `stopSequence`
# (known at evaluation time in both paths), so it can be listed in another process's
# `dependencies` (directly or as an instance `{ pkg = ...; }`), and `chain`, the longest
# dependency chain ending in it (for error messages). With the plugin it also carries
# `rendered`, the plugin's result (name, script, sequence, stopSequence, links,
# credentials, manifest); without it, `renderSpec`, the validated description as the
# renderer takes it. From either, build-profile.nix writes a whole profile in one
# derivation; a process's own .drv is only written when the process itself is built.
#
# Mistakes are reported at evaluation time at the user's file and line, with and without
# the plugin: unknown attributes (with a suggestion), a missing or non-string name, an
# attribute of the wrong kind or with a simple wrong value (lib.checkAttributes: e.g.
# runlevels that are not supported, nice out of range, a bad umask), `dependencies`
# that are not processes, and a start sequence beyond maxSequence (naming the chain).
# Names, nested keys (credentials, readiness, instructions), readiness, the reload
# signal, credentials' properties and privileged accounts are checked there too. What
# is left (size limits) is the renderer's, reported naming the process and attribute:
# during evaluation with the plugin (add --show-trace for the file), at build time
# without it.
{ stdenv ? null
, writeTextFile ? null
, daemon ? null
, runtimeDir ? "/var/run"
, tmpDir ? "/tmp"
, logDir ? "/var/log"
, forceDisableUserChange ? false
, initFunctions ? null
, createCredentials ? null
, initialInstructions ? null
, startDaemon ? null
, startProcessAsDaemon ? null
, stopDaemon ? null
, reloadDaemon ? null
, evaluateCommand ? null
, statusCommand ? null
, restartActivity ? null
, supportedRunLevels ? null
  # nix-processmgmt's spelling of supportedRunLevels (see ./upstream-compat.nix).
, supportedRunlevels ? null
, minSequence ? 0
, maxSequence ? 99
, shell ? null
  # How the output of foreground processes is rotated when a process does not say:
  # { maxSize = "10M"; keep = 5; } (the default), or false for one growing file.
, logRotate ? null
  # A package whose bin/ holds nixproc-sysvinit-render; used when the plugin is not
  # loaded. Defaults to the host-packages shim.
, nixprocSysvinit ? null
, usePlugin ? builtins ? sysvinitScript
, system ? null
  # coreutils for the builders; the host's /usr/bin when null or the shim's.
, coreutils ? null
  # nixpkgs' library, as nix-processmgmt passes it; not needed here.
, lib ? null
}:

let
  lib = import ./lib.nix;
  compat = import ./upstream-compat.nix;

  # nix-processmgmt's ids (uids, gids) carried by a createCredentials function.
  ids = compat.idsOf createCredentials;

  buildSystem = lib.systemFor { inherit system stdenv; };

  builderEnv = lib.builderFor { inherit stdenv coreutils; };

  renderPackage = lib.renderPackageFor {
    inherit nixprocSysvinit stdenv;
    system = buildSystem;
  };

  # Global settings as the renderer takes them; unset (null) ones are left out.
  config = lib.dropNulls {
    inherit runtimeDir tmpDir logDir forceDisableUserChange
      minSequence maxSequence startDaemon stopDaemon reloadDaemon evaluateCommand
      statusCommand restartActivity logRotate;
    supportedRunLevels =
      compat.supportedRunLevels { inherit supportedRunLevels supportedRunlevels; };
    # The supervisor of this project's package (respawn, log rotation); libslack daemon
    # only when named here (then without respawn and log rotation). `daemon` is
    # accepted, as nix-processmgmt passes it, and not needed.
    startProcessAsDaemon =
      if startProcessAsDaemon != null then startProcessAsDaemon
      else "${renderPackage}/bin/nixproc-sysvinit-supervise";
    initialInstructions =
      if initialInstructions != null then initialInstructions
      else if initFunctions != null then ". ${initFunctions}"
      else null;
    shell =
      if shell != null then shell
      else if stdenv != null && stdenv ? shell then stdenv.shell
      else null;
  };

  # Shared by every process (allocated once per composition).
  configAttr = { inherit config; };
  outputs = [ "out" ];
  # One above the highest dependency's start sequence.
  above = acc: d: if d.sequence + 1 > acc then d.sequence + 1 else acc;
  # A null attribute name is left out of an attribute set.
  renderedAttr = if usePlugin then "rendered" else null;
  # With the plugin, descriptions are checked by the renderer itself
  # (builtins.sysvinitCheck), which is much cheaper than the checks written in Nix; those
  # then only run to report a problem at the user's file and line.
  checkNatively = usePlugin && builtins ? sysvinitCheck;
  # Tiny local builds: never worth asking a binary cache for.
  local = { preferLocalBuild = true; allowSubstitutes = false; };
  pluginBase = builderEnv // local // { system = buildSystem; args = [ "-c" lib.treeBuilder ]; };
  renderCommand = ''${renderPackage}/bin/nixproc-sysvinit-render "$specPath" --out "$out"'';
  renderBase = builderEnv // local // {
    system = buildSystem;
    passAsFile = [ "spec" ];
    args = [
      "-c"
      "exec ${renderCommand}"
    ];
  };
  pluginMissing = throw ("createSystemVInitScript: usePlugin is true but the nixproc-sysvinit "
    + "plugin is not loaded; pass --option plugin-files LIB.so to Nix before its other arguments");
in

# Per process, every binding below costs memory for each of (possibly) thousands of
# processes, so the plugin path allocates only what it needs: the checks, the
# renderer's input (the description plus `config`), the rendering, and one attribute set
# describing the derivation, whose .drv is only written when something asks for it (the
# profile builder does not).
description:

let
  # nix-processmgmt's spellings translated (./upstream-compat.nix); `postInstall` is not
  # the renderer's business but this derivation's.
  translated = compat.process description;
  inherit (translated) postInstall;
  spec =
    if ids == { } || !(translated.spec ? credentials) then translated.spec
    else translated.spec // { credentials = compat.applyIds ids translated.spec.credentials; };

  name =
    let given = spec.name or spec.instanceName or null; in
    if builtins.isString given then given else lib.processName spec;
  where = lib.describePosition spec;

  given = spec.dependencies or [ ];
  # Each dependency as the renderer takes it: { name, sequence }.
  deps =
    if builtins.isList given then map (lib.dependencyOf name where) given
    else throw ("process '${name}'${where}: attribute 'dependencies': expected a list of "
      + "processes, got ${lib.kindOf given}");

  # Start sequence: one above the highest dependency, minSequence without any.
  sequence =
    let nixSequence = builtins.foldl' above minSequence deps; in
    if nixSequence > maxSequence then
      throw ("process '${name}'${where}: start sequence ${toString nixSequence} exceeds "
        + "maxSequence ${toString maxSequence}; the dependency chain is too deep: "
        + builtins.concatStringsSep " -> " chain)
    else nixSequence;

  # The longest dependency chain ending here, only evaluated for error messages.
  chain = lib.chainOf name given;

  rendererSpec =
    if spec ? dependencies then spec // { inherit config; dependencies = deps; }
    else spec // configAttr;

  # The plugin's result; only forced when the plugin is used. Its errors name the
  # process and attribute; the context (shown with --show-trace) adds the file.
  r =
    if builtins ? sysvinitScript then
      builtins.addErrorContext "while rendering process '${name}'${where}"
        (builtins.sysvinitScript rendererSpec)
    else pluginMissing;

  storeName = lib.storeName name;

  treeAttrs =
    if usePlugin then lib.treeAttrs pluginBase storeName r
    else renderBase // {
      name = storeName;
      spec = builtins.toJSON rendererSpec;
    };

  # With postInstall, its commands run after the tree is written (in $TMPDIR, as
  # nix-processmgmt runs them). The profile builder (build-profile.nix), which writes
  # trees from renderings, runs them too, with $out the profile.
  drvAttrs =
    if postInstall == "" then treeAttrs
    else treeAttrs // {
      args = [
        "-c"
        ((if usePlugin then lib.treeBuilder else "set -e\n" + renderCommand)
          + "\ncd \"$TMPDIR\"\n" + postInstall)
      ];
    };

  checkInNix =
    lib.checkAttributes name config.supportedRunLevels description spec
    && (!(spec ? credentials) || forceDisableUserChange
      || spec.allowPrivilegedCredentials or false == true
      || lib.checkPrivileged name spec.credentials);
  # With the plugin: null when the description is valid, else the renderer's message.
  verdict = builtins.sysvinitCheck rendererSpec;

  # What `derivation` returns (one output, "out"), without the generic wrapper's copies
  # of the attribute set; derivationStrict runs when outPath or drvPath is used.
  strict = builtins.derivationStrict drvAttrs;
  self = {
    type = "derivation";
    name = storeName;
    system = buildSystem;
    outPath = strict.out;
    inherit (strict) drvPath;
    outputName = "out";
    inherit outputs drvAttrs;
    out = self;
    all = [ self ];
    processName = name;
    inherit sequence chain;
    # The accounts this process makes, for the profile's check of their groups.
    accounts =
      if forceDisableUserChange || !(spec ? credentials) || !(builtins.isAttrs spec.credentials)
      then null else spec.credentials // { process = name; };
    # The renderer's rule: the mirror image of `sequence`.
    stopSequence = maxSequence - sequence + minSequence;
    # The plugin's rendering (absent without the plugin), for users of the process's
    # script at evaluation time; nothing here forces it but the process's own .drv.
    ${renderedAttr} = r;
    # The validated description, which the profile builder renders with every other
    # process of the profile in one run.
    renderSpec = rendererSpec;
    ${if postInstall == "" then null else "postInstall"} = postInstall;
  };
in
# Checked in this order: the name, the attribute names, the dependencies and sequence,
# then the rest: by the renderer with the plugin (the Nix checks only run when it finds a
# problem, to report it at its file and line), else by the Nix checks (the kinds and
# simple values of the attributes, privileged accounts).
if builtins.isString name
  && (builtins.removeAttrs spec lib.knownAttributes == { } || lib.unknownAttribute name spec)
  && builtins.isInt sequence
  && (if checkNatively
      then verdict == null || checkInNix && throw (lib.rendererProblem name where verdict)
      else checkInNix)
then self
else throw "createSystemVInitScript: unreachable"
