# Composes `createCredentials`: a function that builds a store path holding the
# Dysnomia-style account files for groups and users,
#
#   dysnomia-support/groups/NAME     one key='value' line per property
#   dysnomia-support/users/NAME
#
# which nixproc-sysvinit-switch creates before starting processes and removes after
# stopping them. Usage:
#
#   createCredentials = import ./create-credentials.nix { inherit (pkgs) stdenv; };
#   createCredentials {
#     groups = { webapp = { }; };
#     users = { webapp = { group = "webapp"; description = "Webapp"; }; };
#   }
#
# nix-processmgmt's arguments are accepted with its meaning (./upstream-compat.nix):
# `lib` (not needed), `ids` ({ uids.NAME = N; gids.NAME = N; }: an account without its
# own uid or gid gets it from there; a createSystemVInitScript composed with this
# function applies them to its processes' credentials too) and
# `forceDisableUserChange` (true: no accounts).
#
# Group properties: gid. User properties: group, extraGroups, description, homeDir,
# createHomeDir, shell, uid.
#
# Accounts that would be privileged (uid or gid 0, membership of a group such as root,
# sudo, wheel, adm, shadow, disk or docker: the list is PRIVILEGED_GROUPS in
# src/spec/attributes.rs) are refused unless `allowPrivilegedCredentials = true` is passed too,
# like the process attribute of the same name.
#
# A process made by createSystemVInitScript does not need this function: its
# `credentials` attribute is rendered together with its script, into its own tree. This
# function is for accounts that belong to no single process. The files are rendered by
# the same renderer as the scripts (the evaluator plugin when loaded, otherwise
# nixproc-sysvinit-render at build time), so the two never differ.
{ stdenv ? null
, nixprocSysvinit ? null
, usePlugin ? builtins ? sysvinitScript
, system ? null
, coreutils ? null
, lib ? null
, ids ? { }
, forceDisableUserChange ? false
}:

let
  lib = import ./lib.nix;
  compat = import ./upstream-compat.nix;

  buildSystem = lib.systemFor { inherit system stdenv; };

  builderEnv = lib.builderFor { inherit stdenv coreutils; };

  renderPackage = lib.renderPackageFor {
    inherit nixprocSysvinit stdenv;
    system = buildSystem;
  };

  # A function (callable like one) that also carries the ids, for createSystemVInitScript.
  make = { groups ? { }, users ? { }, name ? "credentials", allowPrivilegedCredentials ? false }:
    let
      # A process description that has nothing but the accounts (and the one no-op
      # activity the renderer insists on); only its dysnomia-support part is kept.
      # The opt-in only when given, so that other specs (and store paths) stay as they were.
      spec = {
        inherit name;
        activities.status = ":";
        credentials =
          if forceDisableUserChange then { }
          else compat.applyIds ids { inherit groups users; };
      } // (if allowPrivilegedCredentials then { inherit allowPrivilegedCredentials; } else { });
      # The accounts, for the profile's check of their groups (build-profile.nix).
      accounts = spec.credentials // { process = name; };
    in
    (if usePlugin then
      let
        attrs = lib.treeAttrs { } name (builtins.sysvinitScript spec);
      in
      derivation (builtins.removeAttrs attrs [ "script" "manifest" "linkPaths" "linkTargets" "processName" ]
        // builderEnv // {
        system = buildSystem;
        args = [ "-c" ("set -e\nmkdir -p \"$out\"\n" + lib.credentialsBuilder) ];
      } // (if attrs ? passAsFile then {
        passAsFile = builtins.filter (n: n != "script" && n != "manifest") attrs.passAsFile;
      } else { }))
    else
      derivation (builderEnv // {
        inherit name;
        system = buildSystem;
        spec = builtins.toJSON spec;
        passAsFile = [ "spec" ];
        args = [
          "-c"
          ''
            set -e
            ${renderPackage}/bin/nixproc-sysvinit-render "$specPath" --out "$TMPDIR/tree"
            mkdir -p "$out"
            if [ -d "$TMPDIR/tree/dysnomia-support" ]; then
              cp -R "$TMPDIR/tree/dysnomia-support" "$out/"
            fi
          ''
        ];
      })) // { inherit accounts; }
  ;
in
{
  inherit ids;
  __functor = _: make;
}
