# nix-processmgmt's bridge from createManagedProcess's process-manager-agnostic
# description to a sysvinit script, with the same argument set:
#
#   generateSysVInitScript = import ./generate-sysvinit-script.nix {
#     inherit createSystemVInitScript;
#     inherit (pkgs) lib;              # accepted, not needed
#   };
#   generateSysVInitScript {
#     name = "webapp"; description = "Webapp";
#     foregroundProcess = "${webapp}/bin/webapp"; foregroundProcessArgs = [ ];
#     # or: daemon = "${nginx}/bin/nginx"; daemonArgs = [ "-c" conf ];
#     environment.PORT = 5000; user = "webapp"; credentials = { ... };
#     overrides = { runlevels = [ 3 4 5 ]; };   # or a function of the generated set
#   }
#
# Every argument is optional here (createManagedProcess passes them all, many as null);
# what each one becomes is written at `fromManagedProcess` in ./upstream-compat.nix. An
# argument that is not one of them is an error naming it (with a suggestion when it is
# close to one).
{ createSystemVInitScript
, lib ? null
, stdenv ? null
}:

let
  compat = import ./upstream-compat.nix;
  checks = import ./lib.nix;

  accepted = [
    "name" "description" "initialize" "daemon" "daemonArgs" "instanceName" "pidFile"
    "foregroundProcess" "foregroundProcessArgs" "process" "args" "path" "environment"
    "directory" "umask" "nice" "user" "dependencies" "credentials" "overrides"
    "postInstall"
  ];
in
args:
let
  unknown = builtins.attrNames (builtins.removeAttrs args accepted);
  first = builtins.head unknown;
  pos = builtins.unsafeGetAttrPos first args;
in
if unknown != [ ] then
  throw ("generate-sysvinit-script"
    + (if pos == null then "" else " (at ${pos.file}:${toString pos.line})")
    + ": unknown argument '${first}'${checks.suggestAmong accepted first}")
else createSystemVInitScript (compat.fromManagedProcess args)
