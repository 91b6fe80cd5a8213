# Packages the init-functions library that every generated init.d script sources. The
# library is kept in parts by concern, ./init-functions/NN-CONCERN.sh; they are
# concatenated in the order of their numbers into three files. Parts 01 to 49 (settings,
# messages, timing, processes, accounts, PID files, lookup, services, status, the
# loader) make the file scripts source: what `status` needs, so that the most frequent
# activity reads little. The loader's stubs read the others the first time a start or
# stop function is called: parts 50 to 59 (service control, stop) make the stop part,
# all a stop reads; parts 60 and up (limits, directories, start, foreground, readiness)
# make the start part, which a start reads after the stop part. The result is a
# derivation whose output is the library itself, a single file, so that a script can
# source it directly:
#
#   initFunctions = import ./init-functions.nix {
#     basePackages = [ pkgs.coreutils pkgs.util-linux pkgs.daemon ];
#     inherit (pkgs) stdenv;
#     inherit runtimeDir;
#   };
#   # in a script:  . ${initFunctions}
#
# Arguments (all optional):
#   basePackages  packages whose bin/ directories are put in front of PATH when the
#                 library is sourced. The library uses coreutils (sleep, readlink, stat,
#                 mkdir, chown, rm, id, dirname, nice, tail) and util-linux's setpriv (or
#                 runuser) for user switches.
#   stdenv        used only for its shell as the builder (the host's /bin/sh otherwise).
#   runtimeDir    where PID files live when a call names no PID file (default /var/run).
#   daemon        the libslack daemon package; its bin/daemon becomes the wrapper that
#                 start_foreground uses when it is called without -D.
#   nixprocSysvinit  this project's package, whose supervisor starts a service's
#                 programs inside its cgroup (the host-packages shim's by default).
#   coreutils     coreutils for the builder (the host's /usr/bin and /bin otherwise).
#   system        the system type of the derivation (default: stdenv's, else the
#                 current system).
#   name          the store path name (default "init-functions").
#
# Only builtins are used. The placeholders @runtimeDir@, @basePath@, @daemon@,
# @stopPart@ and @startPart@ (the store paths of those parts) and @supervisor@ of the
# library are replaced by shell-quoted values.
{ basePackages ? [ ]
, stdenv ? null
, runtimeDir ? "/var/run"
, daemon ? null
  # This project's package: its nixproc-sysvinit-supervise starts programs in their
  # services' cgroups (default: as the composition finds it, see lib.renderPackageFor).
, nixprocSysvinit ? null
, coreutils ? null
, system ? null
, name ? "init-functions"
, ...
}:

let
  lib = import ./lib.nix;

  buildSystem = lib.systemFor { inherit system stdenv; };

  builderEnv = lib.builderFor { inherit stdenv coreutils; };

  check = what: value:
    if builtins.isString value || builtins.isPath value || (builtins.isAttrs value && value ? outPath)
    then value
    else throw "init-functions.nix: ${what} must be a package or a path, got a ${builtins.typeOf value}";

  basePath = builtins.concatStringsSep ":"
    (map (p: "${check "every element of basePackages" p}/bin") basePackages);

  daemonProgram =
    if daemon == null then ""
    else "${check "daemon" daemon}/bin/daemon";

  runtimeDirText =
    if builtins.isString runtimeDir || builtins.isPath runtimeDir then toString runtimeDir
    else throw "init-functions.nix: runtimeDir must be a string, got a ${builtins.typeOf runtimeDir}";

  # The parts, NN-CONCERN.sh, in the order of their numbers (attrNames sorts the names):
  # 01 to 49 the part scripts source, 50 to 59 the stop part and 60 and up the start
  # part it reads on demand.
  partsDir = ./init-functions;
  partNames = builtins.filter (n: builtins.match "[0-9][0-9]-[a-z-]+[.]sh" n != null)
    (builtins.attrNames (builtins.readDir partsDir));
  isControl = n: builtins.substring 0 1 n >= "5";
  isStop = n: builtins.substring 0 1 n == "5";
  isStart = n: builtins.substring 0 1 n >= "6";
  concat = names: builtins.concatStringsSep ""
    (map (n: builtins.readFile (partsDir + "/${n}")) names);

  file = fileName: text: derivation {
    name = fileName;
    inherit text;
    system = buildSystem;
    inherit (builderEnv) builder PATH;
    passAsFile = [ "text" ];
    args = [ "-c" "cp \"$textPath\" \"$out\"" ];
    preferLocalBuild = true;
    allowSubstitutes = false;
  };

  stopPart = file "${name}-stop" (concat (builtins.filter isStop partNames));
  startPart = file "${name}-start" (concat (builtins.filter isStart partNames));

  supervisor = "${lib.renderPackageFor { inherit nixprocSysvinit stdenv; system = buildSystem; }}/bin/nixproc-sysvinit-supervise";

  text = builtins.replaceStrings
    [ "'@runtimeDir@'" "'@basePath@'" "'@daemon@'" "'@stopPart@'" "'@startPart@'" "'@supervisor@'" ]
    [ (lib.quote runtimeDirText) (lib.quote basePath) (lib.quote daemonProgram)
      (lib.quote "${stopPart}") (lib.quote "${startPart}") (lib.quote supervisor) ]
    (concat (builtins.filter (n: !(isControl n)) partNames));
in
file name text
