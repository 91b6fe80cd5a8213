# Small builtins-only helpers shared by the Nix functions of this directory: checks that
# point at the user's file, shell quoting for builder scripts, and the writer of a
# process tree from the evaluator plugin's result. The checks are in files of their own
# under ./lib, one topic each.
let
  inherit (builtins) attrNames filter foldl' genList length listToAttrs stringLength;
  messages = import ./lib/messages.nix;
  rendererLists = import ./lib/renderer-lists.nix;
  attributes = import ./lib/attributes.nix;
  credentials = import ./lib/credentials.nix;
in
rec {
  inherit (rendererLists) knownAttributes credentialKinds groupKeys userKeys
    readinessKeys instructionKeys privilegedGroups respawnKeys logRotateKeys limitNames;
  inherit (messages) editDistance kindOf suggestAmong describePosition rendererProblem;
  inherit (attributes) processName checkAttributes reportAttribute unknownAttribute;
  inherit (credentials) checkGroups checkPrivileged;

  # How builders run: nixpkgs' shell and coreutils when given (so builds work in a
  # sandbox), else the host's /bin/sh and /usr/bin (the host-packages shim). Every
  # derivation of this project is a few file writes: like nixpkgs' trivial builders, it is
  # built locally and never looked up in a binary cache (no waiting on an offline machine).
  builderFor = { stdenv ? null, coreutils ? null }: {
    preferLocalBuild = true;
    allowSubstitutes = false;
    builder =
      if stdenv != null && stdenv ? shell && !(stdenv.isShim or false)
      then stdenv.shell else "/bin/sh";
    PATH =
      if coreutils != null && !(coreutils.isShim or false)
      then "${coreutils}/bin" else "/usr/bin:/bin";
  };

  # The Nix system type to build for: `system` when given, else the stdenv's, else the
  # evaluating machine's.
  systemFor = { system ? null, stdenv ? null }:
    if system != null then system
    else if stdenv != null && stdenv ? hostPlatform && stdenv.hostPlatform ? system
    then stdenv.hostPlatform.system
    else if stdenv != null && stdenv ? system then stdenv.system
    else builtins.currentSystem;

  # The package whose bin/ holds nixproc-sysvinit-render: `nixprocSysvinit` when given,
  # else the stdenv's, else the host-packages shim's.
  renderPackageFor = { nixprocSysvinit ? null, stdenv ? null, system }:
    if nixprocSysvinit != null then nixprocSysvinit
    else if stdenv != null && stdenv ? nixprocSysvinit then stdenv.nixprocSysvinit
    else (import ./host-packages.nix { inherit system; }).nixproc-sysvinit;

  # Drops attributes whose value is null.
  dropNulls = attrs:
    builtins.removeAttrs attrs (filter (n: attrs.${n} == null) (attrNames attrs));

  # One element of `dependencies` as the renderer takes it, { name, sequence }: a
  # process made by createSystemVInitScript, or an instance `{ pkg = <that>; }`.
  dependencyOf = name: where: d:
    if builtins.isAttrs d && d ? sequence then {
      name = d.processName or d.name;
      inherit (d) sequence;
    }
    else if builtins.isAttrs d && d ? pkg then dependencyOf name where d.pkg
    else throw ("process '${name}'${where}: dependencies: every element must be a "
      + "process made by createSystemVInitScript (a derivation with 'sequence'), got "
      + (if builtins.isAttrs d then "an attribute set without 'sequence'" else kindOf d));

  # The longest dependency chain ending in process `name` whose `dependencies` are
  # `given` (already checked by dependencyOf): a list of process names.
  chainOf = name: given:
    let
      processOf = d: if d ? sequence then d else processOf d.pkg;
      longest = foldl'
        (acc: d:
          let p = processOf d; in
          if acc == null || p.sequence > acc.sequence then p else acc)
        null
        given;
    in
    (if longest == null then [ ] else longest.chain or [ (longest.processName or longest.name) ])
    ++ [ name ];

  # A valid store path name for a process name (names are validated by the renderer).
  storeName = name:
    if builtins.match "[A-Za-z0-9+_?=-][A-Za-z0-9+._?=-]*" name != null
      && stringLength name <= 200
    then name else "sysvinit-process";

  # Single-quotes a string for /bin/sh.
  quote = s: "'" + builtins.replaceStrings [ "'" ] [ "'\\''" ] s + "'";

  # Derivation attributes carrying a rendered process (the plugin's result) for
  # `treeBuilder`. Texts travel as environment variables and are written with the
  # shell's own printf (no process per file); a text too long for one environment
  # entry is passed as a file instead. Either way its string context is kept. Names and
  # links (paths and targets as two parallel lists) travel as space-separated lists
  # (the renderer allows no whitespace in process, account or link names).
  #   base: attributes shared by every process (system, builder, args, PATH)
  treeAttrs = base: name: r:
    let
      groups = r.credentials.groups or { };
      users = r.credentials.users or { };
      groupNames = attrNames groups;
      userNames = attrNames users;
      indexed = prefix: names: table:
        genList
          (i: { name = "${prefix}${toString i}"; value = table.${builtins.elemAt names i}; })
          (length names);
      claims = r.runtimeFiles or { };
      claimNames = attrNames claims;
      extraFiles = r.files or { };
      fileNames = attrNames extraFiles;
      credentialTexts = indexed "group" groupNames groups ++ indexed "user" userNames users;
      # Linux limits one environment entry to 128 KiB.
      long = t: stringLength t > 65536;
      asFile =
        (if long r.script then [ "script" ] else [ ])
        ++ (if long r.manifest then [ "manifest" ] else [ ])
        ++ (if credentialTexts == [ ] then [ ]
        else map (t: t.name) (filter (t: long t.value) credentialTexts));
      attrs = base // {
        inherit name;
        processName = r.name;
        linkPaths = builtins.catAttrs "path" r.links;
        linkTargets = builtins.catAttrs "target" r.links;
        inherit (r) script manifest;
      };
      withClaims =
        if claimNames == [ ] then attrs
        else attrs // { inherit claimNames; } // listToAttrs (indexed "claim" claimNames claims);
      withFiles =
        if fileNames == [ ] then withClaims
        else withClaims // { inherit fileNames; } // listToAttrs (indexed "file" fileNames extraFiles);
      withCredentials =
        if credentialTexts == [ ] then withFiles
        else withFiles // { inherit groupNames userNames; } // listToAttrs credentialTexts;
    in
    if asFile == [ ] then withCredentials
    else withCredentials // { passAsFile = asFile; };

  # Builder shell code: `put VARIABLE DESTINATION` writes $VARIABLE (or the file
  # $VARIABLEPath when the text was passed as a file) without starting a process;
  # `put_each PREFIX DIRECTORY NAME...` puts $PREFIX0 in DIRECTORY/NAME for the first
  # name, $PREFIX1 for the second, and so on (the texts `indexed` in `treeAttrs`).
  putFunction = ''
    set -f
    put() {
      eval "p=\''${$1Path:-}"
      if [ -n "$p" ]; then cp "$p" "$2"; else eval "printf '%s' \"\$$1\"" > "$2"; fi
    }
    put_each() {
      i=0 prefix=$1 dir=$2
      shift 2
      for n in "$@"; do
        put "$prefix$i" "$dir/$n"
        i=$((i + 1))
      done
    }
  '';

  # Builder shell code writing the credential files described by `treeAttrs` into
  # existing dysnomia-support/{groups,users} directories.
  credentialsWrite = ''
    put_each group "$out/dysnomia-support/groups" ''${groupNames:-}
    put_each user "$out/dysnomia-support/users" ''${userNames:-}
  '';

  # Builder commands writing just the credential files (create-credentials.nix).
  credentialsBuilder = putFunction + ''
    if [ -n "''${groupNames:-}" ]; then mkdir -p "$out/dysnomia-support/groups"; fi
    if [ -n "''${userNames:-}" ]; then mkdir -p "$out/dysnomia-support/users"; fi
  '' + credentialsWrite;

  # The builder script writing a process tree from `treeAttrs`; one constant string
  # for every process. It mirrors the render tool's `--out` layout and starts as few
  # processes as it can (mkdir, chmod, one ln per link).
  treeBuilder = "set -e\n" + putFunction + ''
    d="$out/etc/rc.d"
    dirs="$d/init.d $out/share/nixproc-sysvinit/processes"
    for p in $linkPaths; do
      dirs="$dirs $d/''${p%/*}"
    done
    if [ -n "''${groupNames:-}" ]; then dirs="$dirs $out/dysnomia-support/groups"; fi
    if [ -n "''${userNames:-}" ]; then dirs="$dirs $out/dysnomia-support/users"; fi
    if [ -n "''${claimNames:-}" ]; then dirs="$dirs $out/share/nixproc-sysvinit/runtime-files"; fi
    mkdir -p $dirs
    put script "$d/init.d/$processName"
    chmod 755 "$d/init.d/$processName"
    put manifest "$out/share/nixproc-sysvinit/processes/$processName.json"
    set -- $linkTargets
    for p in $linkPaths; do
      ln -s "$1" "$d/$p"
      shift
    done
    put_each claim "$out/share/nixproc-sysvinit/runtime-files" ''${claimNames:-}
    # Further files (the logrotate configuration).
    i=0
    for n in ''${fileNames:-}; do
      mkdir -p "$out/''${n%/*}"
      put "file$i" "$out/$n"
      i=$((i + 1))
    done
  '' + credentialsWrite;
}
