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
#     --arg cliArgs '{ port = 6000; }'      # optional: more arguments for the model (the
#                                           #   tools' --arg/--argstr), passed likewise
#     --arg pkgs 'import <nixpkgs> {}'      # optional; see "The package set" below
#     --arg chunkSize 100                   # optional: with the plugin, processes per
#                                           #   JSON text of renderings (memory tuning)
#
# The package set. `pkgs` given to this file is passed to the model as it is. Otherwise,
# when `<nixpkgs>` resolves on the search path (NIX_PATH, -I), a model that declares
# `pkgs` with a default of its own (typically `pkgs ? import <nixpkgs> { inherit system; }`)
# is left to that default and a model that declares it without one gets
# `import <nixpkgs> { inherit system; }`; when `<nixpkgs>` does not resolve, the model gets
# the host-packages shim (./host-packages.nix). Which one was used is the profile's
# attribute `packageSet` and the one line of its file share/nixproc-sysvinit/package-set:
# "given", "model default", "nixpkgs", "host-packages shim", or "none (the model takes no
# pkgs)" for a model that does not declare `pkgs` (a flake's, bringing its own).
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
# (the layout of one process tree) for every process. Two instances defining a process
# of the same name are an evaluation error naming both; processes may share a credential
# file when it is the same; two processes using the same PID or log file fail the build
# with a message naming both (each tree records its run-time files under
# share/nixproc-sysvinit/runtime-files); any other file provided twice fails the build.
# A user whose group (or one of whose extraGroups) no process of the profile makes and
# the evaluating machine does not have is an evaluation error at the user's line
# (lib.checkGroups).
#
# How the profile is made:
# - for processes made by createSystemVInitScript, which carry their validated
#   description (`renderSpec`), with the evaluator plugin or without it: ONE derivation
#   writes all their trees with `nixproc-sysvinit-render --specs`, one run per chunk of
#   descriptions. Its files are its own; rc.d links are the relative links of the layout.
#   The per-process derivations are not instantiated (each can still be built on its own;
#   with the plugin it is written from the rendering made at evaluation time). Results of
#   createCredentials made with the plugin carry a rendering (`rendered`) instead and are
#   written by `--rendered`; other store paths are added as the union below adds them,
#   and a process's `postInstall` commands (nix-processmgmt's) run last, with $out the
#   profile.
# - when nothing carries a description or rendering: the union of the store paths, as
#   real directories whose entries are symlinks to the same entries of the process store
#   paths (an rc.d entry thus resolves through the process's own relative link).
# Both give the same files after links are resolved; the profile references every
# store path the scripts mention either way.
#
# The arguments other than `name` and `chunkSize` are those of ./call-model.nix, which
# holds their defaults and calls the model; an argument neither knows is an error.
{ exprFile
, name ? "nixproc-sysvinit-profile"
  # With the plugin: how many processes' renderings travel in one JSON text (see below).
, chunkSize ? 100
, ...
}@args:

let
  lib = import ./lib.nix;

  ownArgs = [ "name" "chunkSize" ];
  modelArgNames = builtins.attrNames (builtins.functionArgs (import ./call-model.nix));
  unknownArgs = builtins.filter (a: !(builtins.elem a (ownArgs ++ modelArgNames)))
    (builtins.attrNames args);
  called = import ./call-model.nix (builtins.removeAttrs args ownArgs);
  inherit (called) processes packageSet chosenPkgs system where;

  packageOf = instance:
    let value = processes.${instance}; in
    if value == null then null
    else if builtins.isAttrs value && value.type or null == "derivation" then value
    else if builtins.isAttrs value && value ? pkg then value.pkg
    else throw ("processes model${where}: instance '${instance}' must be a derivation "
      + "or an attribute set with 'pkg', got "
      + (if builtins.isAttrs value then "an attribute set without 'pkg'" else lib.kindOf value));

  instances = builtins.attrNames processes;
  # Every instance's process, in the order of `instances`; null when skipped.
  packages = map packageOf instances;
  paths = builtins.filter (p: p != null) packages;

  # Two instances rendering a process of the same name would overwrite each other.
  # Checked in linear time with few allocations per process (models may have
  # thousands); only the error path looks for the clashing pair.
  processNames = builtins.catAttrs "processName" paths;
  distinct = builtins.listToAttrs (map (n: { name = n; value = null; }) processNames);
  namesUnique =
    if builtins.length (builtins.attrValues distinct) == builtins.length processNames then true
    else
      let
        named = builtins.concatLists (builtins.genList
          (i:
            let p = builtins.elemAt packages i; in
            if p != null && p ? processName
            then [ { name = p.processName; value = builtins.elemAt instances i; } ]
            else [ ])
          (builtins.length instances));
        byName = builtins.listToAttrs named;
        clash = builtins.foldl'
          (found: entry:
            if found != null then found
            else if byName.${entry.name} != entry.value then entry
            else null)
          null
          named;
      in
      throw ("processes model${where}: instances '${byName.${clash.name}}' and "
        + "'${clash.value}' both define a process named '${clash.name}'");

  # Fast path. Every process made by createSystemVInitScript carries either its
  # rendering (`rendered`, with the evaluator plugin) or its validated description
  # (`renderSpec`, without it), and the profile is ONE derivation that writes every tree
  # itself with one `nixproc-sysvinit-render --rendered` or `--specs` run per chunk,
  # instead of the union of one derivation per process: instantiating thousands of
  # derivations costs Nix more than evaluating the whole model, and the per-process
  # .drv files are never written.
  #
  # The renderings and descriptions reach the builder as JSON (builtins.toJSON keeps
  # their string context, so the profile depends on, and references, every store path
  # they mention). Up to `chunkSize` processes travel in the profile's own environment
  # (passAsFile). Larger models are cut into chunks of `chunkSize`, each written to a
  # file by a tiny derivation of its own: Nix copies a derivation's environment several
  # times over while it hashes and writes the .drv, so one huge string would multiply
  # peak memory.
  specs = builtins.catAttrs "renderSpec" paths;
  allSpecs = builtins.length specs == builtins.length paths;
  # Renderings of store paths without a description (createCredentials results with the
  # plugin).
  rendered =
    if allSpecs then [ ]
    else builtins.catAttrs "rendered" (builtins.filter (p: !(p ? renderSpec)) paths);
  count = builtins.length rendered + builtins.length specs;
  anyRendered = count > 0;
  # Store paths with neither, which the fast path adds like the union path does.
  others =
    if count == builtins.length paths then [ ]
    else builtins.filter (p: !(p ? rendered || p ? renderSpec)) paths;

  # The JSON texts of `list` in chunks of `chunkSize`, each made by `toText`.
  chunksOf = toText: list:
    let total = builtins.length list; in
    builtins.genList
      (c:
        let
          first = c * chunkSize;
          size = if total - first < chunkSize then total - first else chunkSize;
        in
        toText (builtins.genList (i: builtins.elemAt list (first + i)) size))
      ((total + chunkSize - 1) / chunkSize);
  # A chunk of descriptions made by one composition (the usual case) carries its
  # settings once, as { config, processes }: writing the same `config` as JSON for every
  # process costs more than comparing it (`==` on one shared set is cheap).
  specsText = chunk:
    let config = (builtins.head chunk).config or null; in
    if config != null && builtins.all (s: s ? config && s.config == config) chunk
    then builtins.toJSON {
      inherit config;
      processes = map (s: builtins.removeAttrs s [ "config" ]) chunk;
    }
    else builtins.toJSON chunk;
  renderingChunks = chunksOf builtins.toJSON rendered;
  specChunks = chunksOf specsText specs;

  renderPackage = lib.renderPackageFor {
    nixprocSysvinit = chosenPkgs.nixproc-sysvinit or null;
    stdenv = chosenPkgs.stdenv or null;
    inherit system;
  };

  builderEnv = lib.builderFor {
    stdenv = chosenPkgs.stdenv or null;
    coreutils = chosenPkgs.coreutils or null;
  };

  # One chunk's JSON text (descriptions or renderings) as a file of its own.
  chunkFile = json: derivation (builderEnv // {
    name = "nixproc-sysvinit-chunk.json";
    inherit system;
    chunk = json;
    passAsFile = [ "chunk" ];
    # Not `exec cp`: coreutils close stdout and stderr before exiting, and Nix, seeing the
    # log pipe close, kills a builder it finds still running (then "signal 9"); the shell
    # holds the pipe until cp has exited.
    args = [ "-c" ''cp "$chunkPath" "$out"'' ];
    preferLocalBuild = true;
    allowSubstitutes = false;
  });

  # The postInstall commands of processes (nix-processmgmt's), which the fast path runs
  # after writing the trees, each in a directory of its own, with $out the profile; the
  # union path has them run by each process's own derivation.
  postInstalls = builtins.catAttrs "postInstall" paths;
  postInstallAttrs = builtins.listToAttrs (builtins.genList
    (i: { name = "postInstall${toString i}"; value = builtins.elemAt postInstalls i; })
    (builtins.length postInstalls));
  runPostInstalls = ''
    i=0
    while [ "$i" -lt "''${postInstallCount:-0}" ]; do
      mkdir "$TMPDIR/postInstall$i"
      ( cd "$TMPDIR/postInstall$i" && eval "eval \"\$postInstall$i\"" )
      i=$((i + 1))
    done
  '';

  # Builder commands writing which package set the model got (see the top of this file).
  recordPackageSet = ''
    mkdir -p "$out/share/nixproc-sysvinit"
    printf '%s\n' "$packageSet" > "$out/share/nixproc-sysvinit/package-set"
  '';

  # One chunk travels in the profile's environment, more as files (see above).
  chunkAttrs = attr: chunks:
    if chunks == [ ] then { }
    else if builtins.length chunks == 1 then {
      ${attr} = builtins.head chunks;
      passAsFile = [ attr ];
    } else {
      "${attr}Files" = map chunkFile chunks;
    };
  renderingChunkAttrs = chunkAttrs "renderings" renderingChunks;
  specChunkAttrs = chunkAttrs "specs" specChunks;

  fromRenderings = builderEnv // {
    inherit name system packageSet;
    args = [
      "-c"
      (''
        set -e
        for f in ''${renderingsPath:-$renderingsFiles}; do
          ${renderPackage}/bin/nixproc-sysvinit-render --rendered "$f" --out "$out"
        done
        for f in ''${specsPath:-$specsFiles}; do
          ${renderPackage}/bin/nixproc-sysvinit-render --specs "$f" --out "$out"
        done
      '' + unionCommands + runPostInstalls + recordPackageSet)
    ];
    paths = map toString others;
    preferLocalBuild = true;
    allowSubstitutes = false;
  } // (if postInstalls == [ ] then { } else postInstallAttrs // {
    postInstallCount = builtins.length postInstalls;
  }) // renderingChunkAttrs // specChunkAttrs // {
    passAsFile = (renderingChunkAttrs.passAsFile or [ ]) ++ (specChunkAttrs.passAsFile or [ ]);
  };

  union = builderEnv // {
    inherit name system packageSet;
    paths = map toString paths;
    args = [ "-c" ("set -e\nmkdir -p \"$out\"\n" + unionCommands + recordPackageSet) ];
    preferLocalBuild = true;
    allowSubstitutes = false;
  };

  # Builder commands adding the trees of the store paths in $paths to $out.
  unionCommands = ''
    claims=share/nixproc-sysvinit/runtime-files
    for p in $paths; do
      # Two processes using one PID or log file: name both (see render::write_tree).
      for f in "$p/$claims"/*; do
        [ -e "$f" ] && [ -e "$out/$claims/''${f##*/}" ] || continue
        { read -r a; read -r ak; read -r path; } <"$out/$claims/''${f##*/}"
        { read -r b; read -r bk; } <"$f"
        [ "$a" != "$b" ] || continue
        echo "profile: processes '$a' and '$b' both use $path ('$a' as its $ak, '$b' as its $bk); give them distinct instanceName (or pidFile) values" >&2
        exit 1
      done
      # Directories become real directories, files become symlinks into $p;
      # cp refuses (and the build fails) when two processes provide one file.
      set --
      for d in "$p"/*; do
        [ "''${d##*/}" = dysnomia-support ] || set -- "$@" "$d"
      done
      [ $# -eq 0 ] || cp -rs --no-preserve=mode "$@" "$out"/ || {
        echo "profile: $p provides a file that another process already provides" >&2
        exit 1
      }
      # Processes may share a credential file (a common group) when it is the same.
      for f in "$p"/dysnomia-support/*/*; do
        [ -e "$f" ] || continue
        rel=''${f#"$p"/}
        if [ -e "$out/$rel" ]; then
          [ "$(cat "$f")" = "$(cat "$out/$rel")" ] || {
            echo "profile: $p and another process provide different $rel" >&2
            exit 1
          }
        else
          [ -d "$out/''${rel%/*}" ] || mkdir -p "$out/''${rel%/*}"
          ln -s "$f" "$out/$rel"
        fi
      done
    done
  '';
in
if unknownArgs != [ ] then
  let a = builtins.head unknownArgs; in
  throw "build-profile: unknown argument '${a}'${lib.suggestAmong (ownArgs ++ modelArgNames) a}"
else if !(builtins.isAttrs processes) then
  throw "processes model${where}: must evaluate to an attribute set of instances, got ${lib.kindOf processes}"
else if !(builtins.isInt chunkSize && chunkSize > 0) then
  throw "build-profile: chunkSize must be a positive integer, got ${builtins.toJSON chunkSize}"
else
  builtins.seq (namesUnique && lib.checkGroups (builtins.catAttrs "accounts" paths))
    (derivation (if anyRendered then fromRenderings else union))
