# Process trees: the attributes and the builder script of the derivation that writes a
# process tree from the evaluator plugin's rendering, in the render tool's `--out`
# layout, and the builder code writing credential files alone.
let
  inherit (builtins) attrNames filter genList length listToAttrs stringLength;
in
rec {
  /**
    The derivation attributes that carry a rendered process (the plugin's result) to
    `treeBuilder`.

    Texts travel as environment variables and are written with the shell's own printf
    (no process per file); a text too long for one environment entry (Linux allows
    128 KiB) is passed as a file instead (`passAsFile`). Either way its string context
    is kept. Names and links (their paths and targets as two parallel lists) travel as
    space-separated lists: the renderer allows no whitespace in process, account or
    link names. Run-time file claims, further files (the logrotate configuration) and
    credential files are numbered in the sorted order of their names (`claim0`,
    `file0`, `group0`, `user0`, ...), next to the list of those names.

    # Inputs

    `base`

    : The attributes every process shares (system, builder, args, PATH).

    `name`

    : The derivation name.

    `r`

    : The rendering: `{ name; script; manifest; links; credentials ? ...; runtimeFiles ? ...; files ? ...; }`.

    # Type

    ```
    treeAttrs :: AttrSet -> String -> AttrSet -> AttrSet
    ```
  */
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

  /**
    Builder shell code defining two functions that write texts of `treeAttrs` without
    starting a process: `put VARIABLE DESTINATION` writes $VARIABLE, or copies the file
    $VARIABLEPath when the text was passed as a file; `put_each PREFIX DIRECTORY
    NAME...` puts $PREFIX0 in DIRECTORY/NAME for the first name, $PREFIX1 for the
    second, and so on. It also turns off globbing (`set -f`).

    # Type

    ```
    putFunction :: String
    ```
  */
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

  /**
    Builder shell code writing the credential files of `treeAttrs` into the groups and
    users directories of dysnomia-support, which must exist.

    # Type

    ```
    credentialsWrite :: String
    ```
  */
  credentialsWrite = ''
    put_each group "$out/dysnomia-support/groups" ''${groupNames:-}
    put_each user "$out/dysnomia-support/users" ''${userNames:-}
  '';

  /**
    The builder commands writing just the credential files of `treeAttrs`, creating
    their directories (for ../create-credentials.nix).

    # Type

    ```
    credentialsBuilder :: String
    ```
  */
  credentialsBuilder = putFunction + ''
    if [ -n "''${groupNames:-}" ]; then mkdir -p "$out/dysnomia-support/groups"; fi
    if [ -n "''${userNames:-}" ]; then mkdir -p "$out/dysnomia-support/users"; fi
  '' + credentialsWrite;

  /**
    The builder script writing a process tree from `treeAttrs`: one constant string for
    every process. It mirrors the render tool's `--out` layout and starts as few
    processes as it can (mkdir, chmod, one ln per link).

    # Type

    ```
    treeBuilder :: String
    ```
  */
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
