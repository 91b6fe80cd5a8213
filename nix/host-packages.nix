# Host-packages shim: a tiny stand-in for nixpkgs on machines that have Nix but no
# package collection.
#
# Every package here is a store path with a bin/ directory. For programs installed on
# the host by its own package manager (for example Debian's nginx at /usr/sbin/nginx
# and libslack's daemon at /usr/bin/daemon) bin/ holds symlinks to them. This project's
# own binaries (and the example web application) are copied into the store at
# evaluation time, so a rebuilt binary gives new store paths and re-rendered
# processes. Nothing is built from source, so these store paths are NOT
# self-contained: they only work on the machine (or machine kind) they were made for. On a system with nixpkgs, pass your own
# package set as `pkgs` to the functions in this directory instead of this file.
#
# Arguments (all optional):
#   system       the Nix system type of the derivations
#   nixprocBin   directory holding this project's release binaries
#                (nixproc-sysvinit-render, -switch, -runactivity, -id-assign,
#                -supervise); defaults to the environment variable NIXPROC_SYSVINIT_BIN, else
#                <repo>/target/release
#   webappBin    path of the example web application program; defaults to
#                NIXPROC_SYSVINIT_WEBAPP, else <nixprocBin>/examples/webapp
#   hostPaths    attribute set overriding where host programs live, e.g.
#                { nginx = "/usr/local/sbin/nginx"; }
{ system ? builtins.currentSystem
, nixprocBin ? null
, webappBin ? null
, hostPaths ? { }
}:

let
  fromEnv = var: fallback:
    let value = builtins.getEnv var; in if value != "" then value else fallback;

  binDir =
    if nixprocBin != null then toString nixprocBin
    else fromEnv "NIXPROC_SYSVINIT_BIN" (toString ../target/release);

  webapp =
    if webappBin != null then toString webappBin
    else fromEnv "NIXPROC_SYSVINIT_WEBAPP" "${binDir}/examples/webapp";

  # Single-quote a string for /bin/sh.
  quote = s: "'" + builtins.replaceStrings [ "'" ] [ "'\\''" ] s + "'";

  # A store path whose bin/ links to the given host programs.
  #   programs: { linkName = "/absolute/host/path"; }
  hostPackage = name: programs:
    (derivation {
      inherit name system;
      builder = "/bin/sh";
      args = [
        "-c"
        (''
          set -e
          /bin/mkdir -p "$out/bin"
        '' + builtins.concatStringsSep "" (map
          (link: "/bin/ln -s ${quote programs.${link}} \"$out/bin/\"${quote link}\n")
          (builtins.attrNames programs)))
      ];
      # Host programs can change under us; a symlink derivation never needs
      # substitutes and is cheap to rebuild locally.
      preferLocalBuild = true;
      allowSubstitutes = false;
    }) // { isShim = true; };

  # A host file copied into the store (an evaluation error when it is missing).
  hostFile = hint: file:
    if builtins.pathExists file then
      builtins.path { path = /. + file; name = baseNameOf file; }
    else throw "host-packages: ${file} does not exist; ${hint}";

  cargoHint = "build it with `cargo build --release --bins --examples`, or pass "
    + "nixprocBin (or set NIXPROC_SYSVINIT_BIN) to the directory holding it";

  paths = {
    nginx = "/usr/sbin/nginx";
    daemon = "/usr/bin/daemon";
    nix-daemon = "/usr/bin/nix-daemon";
    bash = "/bin/bash";
    sh = "/bin/sh";
  } // hostPaths;

  coreutilsPrograms = [
    "basename" "cat" "chmod" "chown" "cp" "cut" "date" "dirname" "echo" "env" "false"
    "head" "id" "install" "kill" "ln" "ls" "mkdir" "mktemp" "mv" "printf" "readlink"
    "rm" "rmdir" "seq" "sleep" "sort" "stat" "tail" "tee" "test" "touch" "tr" "true"
    "uname" "wc"
  ];

  fromUsrBin = names:
    builtins.listToAttrs (map (n: { name = n; value = "/usr/bin/${n}"; }) names);

  self = {
    inherit system hostPackage;

    # What `createSystemVInitScript` needs from a stdenv: the system type and a shell.
    stdenv = {
      inherit system;
      hostPlatform.system = system;
      shell = "${self.bash}/bin/bash";
      isShim = true;
      # The render tool, found here by createSystemVInitScript when it is composed with
      # this shim's stdenv, so that `nixprocBin` given to the shim is honoured.
      nixprocSysvinit = self.nixproc-sysvinit;
    };

    # A builtins-only writeTextFile with the nixpkgs calling convention for the
    # attributes used in this project: name, text, executable, destination.
    writeTextFile = { name, text, executable ? false, destination ? "" }:
      derivation {
        inherit name system text;
        builder = "/bin/sh";
        passAsFile = [ "text" ];
        args = [
          "-c"
          ''
            set -e
            target="$out"${quote destination}
            /bin/mkdir -p "$(/usr/bin/dirname "$target")"
            /bin/cp "$textPath" "$target"
            ${if executable then ''/bin/chmod 755 "$target"'' else ""}
          ''
        ];
        # As nixpkgs' trivial builders: a file write is cheaper than a cache look-up.
        preferLocalBuild = true;
        allowSubstitutes = false;
      };

    nginx = hostPackage "nginx" { nginx = paths.nginx; };
    daemon = hostPackage "daemon" { daemon = paths.daemon; };
    nix = hostPackage "nix" { nix-daemon = paths.nix-daemon; };
    bash = hostPackage "bash" { bash = paths.bash; sh = paths.sh; };
    coreutils = hostPackage "coreutils" (fromUsrBin coreutilsPrograms);
    gnused = hostPackage "gnused" { sed = "/bin/sed"; };
    gnugrep = hostPackage "gnugrep" { grep = "/bin/grep"; };
    util-linux = hostPackage "util-linux" { setpriv = "/usr/bin/setpriv"; runuser = "/usr/sbin/runuser"; };
    inetutils = hostPackage "inetutils" { hostname = "/bin/hostname"; };
    sysvinit = hostPackage "sysvinit" { pidof = "/bin/pidof"; killall5 = "/sbin/killall5"; };

    # This project's own tools, taken from a cargo build of the repository.
    # Only the binaries that exist are included (the render tool is required).
    nixproc-sysvinit = hostPackage "nixproc-sysvinit" (
      { nixproc-sysvinit-render = hostFile cargoHint "${binDir}/nixproc-sysvinit-render"; }
      // builtins.listToAttrs (map (n: { name = n; value = hostFile cargoHint "${binDir}/${n}"; })
        (builtins.filter (n: builtins.pathExists "${binDir}/${n}")
          [ "nixproc-sysvinit-switch" "nixproc-sysvinit-runactivity"
            "nixproc-sysvinit-id-assign" "nixproc-sysvinit-supervise" ])));

    # The example HTTP server used by examples/webapps.
    webapp = hostPackage "webapp" { webapp = hostFile cargoHint webapp; };
  };
in
self
