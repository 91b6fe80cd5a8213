# Builders: what the derivations of this project share, how their builders run, which
# system they are for, where the render tool comes from, the store names of processes,
# shell quoting for builder scripts, and the attribute sets they pass on.
let
  inherit (builtins) attrNames filter stringLength;
in
{
  /**
    The attributes that say how a builder runs: nixpkgs' shell and coreutils when
    given (so that builds work in a sandbox), else the host's /bin/sh and /usr/bin
    (those of the host-packages shim, which set `isShim`).

    Every derivation of this project is a few file writes: like nixpkgs' trivial
    builders it is built locally and never looked up in a binary cache, so that an
    offline machine does not wait for one.

    # Inputs

    `stdenv`

    : A stdenv with `shell`, or null.

    `coreutils`

    : A coreutils package, or null.

    # Type

    ```
    builderFor :: { stdenv ? AttrSet; coreutils ? AttrSet; } -> { preferLocalBuild :: Bool; allowSubstitutes :: Bool; builder :: String; PATH :: String; }
    ```

    # Examples
    :::{.example}
    ## `builderFor` usage example

    ```nix
    builderFor { }
    => { preferLocalBuild = true; allowSubstitutes = false; builder = "/bin/sh"; PATH = "/usr/bin:/bin"; }
    ```

    :::
  */
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

  /**
    The Nix system type to build for: `system` when given, else the stdenv's (its
    `hostPlatform.system`, else its `system`), else the evaluating machine's.

    # Inputs

    `system`

    : A system type such as "x86_64-linux", or null.

    `stdenv`

    : A stdenv, or null.

    # Type

    ```
    systemFor :: { system ? String; stdenv ? AttrSet; } -> String
    ```
  */
  systemFor = { system ? null, stdenv ? null }:
    if system != null then system
    else if stdenv != null && stdenv ? hostPlatform && stdenv.hostPlatform ? system
    then stdenv.hostPlatform.system
    else if stdenv != null && stdenv ? system then stdenv.system
    else builtins.currentSystem;

  /**
    The package whose bin/ holds nixproc-sysvinit-render: `nixprocSysvinit` when
    given, else the stdenv's `nixprocSysvinit`, else the one of the host-packages shim
    (../host-packages.nix) for `system`.

    # Inputs

    `nixprocSysvinit`

    : This project's package, or null.

    `stdenv`

    : A stdenv, or null.

    `system`

    : The system type, for the shim.

    # Type

    ```
    renderPackageFor :: { nixprocSysvinit ? AttrSet; stdenv ? AttrSet; system :: String; } -> AttrSet
    ```
  */
  renderPackageFor = { nixprocSysvinit ? null, stdenv ? null, system }:
    if nixprocSysvinit != null then nixprocSysvinit
    else if stdenv != null && stdenv ? nixprocSysvinit then stdenv.nixprocSysvinit
    else (import ../host-packages.nix { inherit system; }).nixproc-sysvinit;

  /**
    An attribute set without the attributes whose value is null (only at the top
    level), as settings that were not given.

    # Inputs

    `attrs`

    : The attribute set.

    # Type

    ```
    dropNulls :: AttrSet -> AttrSet
    ```

    # Examples
    :::{.example}
    ## `dropNulls` usage example

    ```nix
    dropNulls { stateDir = "/var"; logDir = null; }
    => { stateDir = "/var"; }
    ```

    :::
  */
  dropNulls = attrs:
    builtins.removeAttrs attrs (filter (n: attrs.${n} == null) (attrNames attrs));

  /**
    A valid store path name for a process name: the name itself when the store allows
    it, else "sysvinit-process". Process names are validated by the renderer; this
    only keeps a derivation from failing before the renderer can say so.

    # Inputs

    `name`

    : The process name.

    # Type

    ```
    storeName :: String -> String
    ```

    # Examples
    :::{.example}
    ## `storeName` usage example

    ```nix
    storeName "webapp@1"
    => "sysvinit-process"
    storeName "nginx"
    => "nginx"
    ```

    :::
  */
  storeName = name:
    if builtins.match "[A-Za-z0-9+_?=-][A-Za-z0-9+._?=-]*" name != null
      && stringLength name <= 200
    then name else "sysvinit-process";

  /**
    Single-quotes a string for /bin/sh, so that a builder script gets it as one word
    and unchanged.

    # Inputs

    `s`

    : The string.

    # Type

    ```
    quote :: String -> String
    ```

    # Examples
    :::{.example}
    ## `quote` usage example

    ```nix
    quote "it's"
    => "'it'\\''s'"
    ```

    :::
  */
  quote = s: "'" + builtins.replaceStrings [ "'" ] [ "'\\''" ] s + "'";
}
