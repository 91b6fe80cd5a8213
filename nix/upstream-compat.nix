# nix-processmgmt compatibility: the one place where the arguments and spellings of
# nix-processmgmt's sysvinit backend are turned into this project's. The entry points
# (create-sysvinit-script.nix, create-credentials.nix, generate-sysvinit-script.nix)
# call these functions and nothing else translates upstream input.
#
# Accepted spellings, each with upstream's meaning:
#
#   composition (import ./create-sysvinit-script.nix { ... })
#     lib                 nixpkgs' library; accepted and not needed (only builtins are used)
#     supportedRunlevels  upstream's code spelling of supportedRunLevels (giving both is an
#                         error)
#     createCredentials   a function from ./create-credentials.nix; its `ids` give the
#                         processes' accounts their uid and gid (see below)
#
#   createCredentials (import ./create-credentials.nix { ... })
#     lib                     accepted and not needed
#     ids                     { uids.NAME = N; gids.NAME = N; } as made by nix-processmgmt's
#                             id assigner: an account without its own uid/gid gets it here
#     forceDisableUserChange  true: no accounts at all (the switch then makes none)
#
#   process description (createSystemVInitScript { ... })
#     postInstall  shell commands run after the process's tree is written, in $TMPDIR with
#                  $out the tree; a profile written from the plugin's renderings (see
#                  build-profile.nix) runs them again with $out the profile
#     nice = "5"   a string holding an integer is that integer
#     null         an attribute that is null is unset (upstream's defaults), as before
#
#   generate-sysvinit-script.nix: createManagedProcess's process-manager-agnostic
#     arguments, see `fromManagedProcess` below.
#
# Deliberate differences that no spelling can bridge: a process with `user` keeps its PID
# and log files in runtimeDir/STEM/ and logDir/STEM/, never in tmpDir (upstream's default
# for such a process is ${tmpDir}/${instanceName}.pid, a world-writable directory), so a
# self-daemonizing program must be told the former path; and under
# forceDisableUserChange a user's `createHomeDir` makes no home directory.
let
  # Integer strings: an optional minus sign and digits.
  integerText = s: builtins.match "(-?)0*([0-9]+)" s;

  toInt = s:
    let m = integerText s; in
    (if builtins.elemAt m 0 == "-" then -1 else 1) * builtins.fromJSON (builtins.elemAt m 1);

  # Sets holding this project's values; `{ }` when nothing needs translating.
  niceFix = spec:
    if spec ? nice && builtins.isString spec.nice && integerText spec.nice != null
    then { nice = toInt spec.nice; } else { };

  # A secret's `source` given as a Nix path (`./key`) as the string of that path, so
  # that neither the renderer nor `toJSON` copies the file into the store; `{ }` when
  # there is nothing to convert (anything else is checked by the renderer).
  secretsFix = spec:
    if !(spec ? secrets && builtins.isAttrs spec.secrets) then { }
    else {
      secrets = builtins.mapAttrs
        (_: secret:
          if builtins.isAttrs secret && secret ? source && builtins.isPath secret.source
          then secret // { source = toString secret.source; } else secret)
        spec.secrets;
    };

  # nixpkgs' lib.recursiveUpdate (for `overrides`), with builtins only: attribute sets
  # are merged, except derivations, which are values.
  recursiveUpdate = lhs: rhs:
    lhs // builtins.listToAttrs (map
      (n: {
        name = n;
        value =
          let l = lhs.${n} or null; r = rhs.${n}; in
          if builtins.isAttrs l && builtins.isAttrs r && !(l ? outPath) && !(r ? outPath)
          then recursiveUpdate l r else r;
      })
      (builtins.attrNames rhs));

  # Adds uid (users) or gid (groups) from `table` to accounts that have none.
  withIds = key: table: accounts:
    if table == { } || !(builtins.isAttrs accounts) then accounts
    else builtins.mapAttrs
      (n: props:
        if builtins.isAttrs props && !(props ? ${key}) && table ? ${n}
        then props // { ${key} = table.${n}; } else props)
      accounts;
in
rec {
  inherit recursiveUpdate;

  # The supported runlevels of a composition from either spelling.
  #
  # Type: { supportedRunLevels :: null | [int], supportedRunlevels :: null | [int] } -> [int]
  supportedRunLevels = { supportedRunLevels ? null, supportedRunlevels ? null }:
    if supportedRunLevels != null && supportedRunlevels != null then
      throw ("createSystemVInitScript: give either supportedRunLevels or supportedRunlevels "
        + "(nix-processmgmt's spelling of the same setting), not both")
    else if supportedRunLevels != null then supportedRunLevels
    else if supportedRunlevels != null then supportedRunlevels
    else [ 0 1 2 3 4 5 6 ];

  # A process description in this project's terms, and its postInstall commands.
  # Costs one attribute test per process when nothing needs translating.
  #
  # Type: attrs -> { spec :: attrs, postInstall :: string }
  process = spec:
    if !(builtins.isAttrs spec) || !(spec ? postInstall || spec ? nice || spec ? secrets) then
      { inherit spec; postInstall = ""; }
    else
      let
        post = spec.postInstall or null;
        cleaned = builtins.removeAttrs spec [ "postInstall" ] // niceFix spec // secretsFix spec;
      in
      {
        spec = cleaned;
        postInstall =
          if post == null then ""
          else if builtins.isString post then post
          else throw ("process '${spec.name or spec.instanceName or "?"}'"
            + (let pos = builtins.unsafeGetAttrPos "postInstall" spec; in
              if pos == null then "" else " (at ${pos.file}:${toString pos.line})")
            + ": attribute 'postInstall': expected a string of shell commands, got "
            + builtins.typeOf post);
      };

  # The credentials of a process or of createCredentials, with nix-processmgmt's `ids`
  # applied (uids.NAME, gids.NAME for accounts that do not set their own).
  #
  # Type: attrs -> { groups ?, users ? } -> { groups ?, users ? }
  applyIds = ids: credentials:
    if ids == { } || !(builtins.isAttrs credentials) then credentials
    else credentials
      // (if credentials ? groups then { groups = withIds "gid" (ids.gids or { }) credentials.groups; } else { })
      // (if credentials ? users then { users = withIds "uid" (ids.uids or { }) credentials.users; } else { });

  # The ids a function made by create-credentials.nix carries ({} for other functions).
  idsOf = createCredentials:
    if builtins.isAttrs createCredentials then createCredentials.ids or { } else { };

  # createManagedProcess's arguments (nix-processmgmt's generate-sysvinit-script.nix)
  # as a process description:
  #   daemon, daemonArgs                        a self-daemonizing program: process, args
  #   foregroundProcess, foregroundProcessArgs  otherwise: processIsDaemon = false
  #   process, args                             newer spelling: foregroundProcess
  #   name, description, instanceName, pidFile, initialize, path, environment, directory,
  #   umask, nice, user, dependencies, credentials, postInstall   as they are
  #   overrides  a function of the generated description, or a set merged into it
  #              recursively; its `sysvinit` attribute (overrides.sysvinit) when present
  # Unset or null arguments are left out.
  #
  # Type: attrs -> attrs
  fromManagedProcess = args:
    let
      given = n: args ? ${n} && args.${n} != null;
      pick = names: builtins.listToAttrs (map (n: { name = n; value = args.${n}; })
        (builtins.filter given names));
      isDaemon = given "daemon";
      foreground =
        if given "foregroundProcess" then args.foregroundProcess
        else args.process or null;
      foregroundArgs =
        if given "foregroundProcessArgs" then args.foregroundProcessArgs
        else args.args or [ ];
      generated = pick [
        "name" "description" "instanceName" "pidFile" "initialize" "path" "environment"
        "directory" "umask" "nice" "user" "dependencies" "credentials" "postInstall"
      ] // (if isDaemon then {
        process = args.daemon;
        args = args.daemonArgs or [ ];
      } else if foreground != null then {
        process = foreground;
        args = foregroundArgs;
        processIsDaemon = false;
      } else { });
      overrides =
        let o = args.overrides or { }; in
        if builtins.isAttrs o && o ? sysvinit then o.sysvinit else o;
    in
    if builtins.isFunction overrides then overrides generated
    else if overrides == null then generated
    else recursiveUpdate generated overrides;
}
