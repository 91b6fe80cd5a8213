# The attributes of a process description: its name, the check of every attribute's
# kind and simple values at the user's file and line, and the report of an unknown
# attribute.
let
  inherit (builtins) attrNames head substring unsafeGetAttrPos;
  inherit (import ./messages.nix) kindOf positionText describePosition suggestAmong;
  inherit (import ./problems.nix) bool boolOrKeys entriesWith firstProblem isScalar isText
    levels noCheck sameCheck scalars setWith text unknownKey wrong;
  inherit (import ./names.nix) nameCheck namedEntries;
  inherit (import ./credentials.nix) credentialsProblem;
  inherit (import ./renderer-lists.nix) instructionKeys knownAttributes limitNames
    logRotateKeys readinessKeys respawnKeys;

  /**
    `suggestAmong` for the attributes of a process description.

    # Type

    ```
    suggestion :: String -> String
    ```
  */
  suggestion = suggestAmong knownAttributes;

  /**
    The check of `reloadSignal`: a signal as the renderer takes it, a name with or
    without "SIG" and with or without a leading "-" ("-HUP", "HUP", "SIGHUP"), or a
    number ("1", 1).

    # Type

    ```
    signalProblem :: Check
    ```
  */
  signalProblem = _: v:
    let s = if builtins.isInt v then toString v else v; in
    if !(builtins.isString s) then wrong "a string" v
    else if builtins.match "-?(SIG)?[A-Z0-9+-]+" s != null && s != "SIG" && s != "-SIG" then null
    else { text = "${builtins.toJSON s} is not a signal such as \"-HUP\" or \"USR1\""; };

  /**
    The check of each attribute that has one, by attribute name (see the header of
    ./problems.nix for `Check`). Attributes without an entry are not checked here.
  */
  attributeChecks = {
    process = _: v:
      if !(isText v) then wrong "a string" v
      else
        let s = toString v; in
        if s == "" || substring 0 1 s == "-"
        then { text = "'${s}' is not a program path (it must not be empty or start with '-')"; }
        else null;
    user = nameCheck "account";
    reloadSignal = signalProblem;
    umask = _: v:
      let s = if builtins.isInt v then toString v else v; in
      if !(builtins.isString s) then wrong "a string of octal digits" v
      else if builtins.match "[0-7]{1,4}" s == null
      then { text = "'${s}' is not an octal umask such as \"022\""; }
      else null;
    nice = _: v:
      if !(builtins.isInt v) then wrong "an integer (or a string of one)" v
      else if v < -20 || v > 19 then { text = "${toString v} is outside the nice range -20..19"; }
      else null;
    activities = setWith
      (namedEntries "activity" (x: if isText x then null else wrong "a string" x) "");
    instructions = setWith (entriesWith instructionKeys "");
    environment = setWith
      (namedEntries "variable" (x: if isScalar x then null else wrong "a string" x) "");
    credentials = setWith credentialsProblem;
    respawn = boolOrKeys respawnKeys;
    logRotate = boolOrKeys logRotateKeys;
    limits = setWith (unknownKey limitNames "");
    readiness = setWith (v:
      firstProblem [
        (unknownKey readinessKeys "" v)
        (if (v.tcpPort or null != null) == (v.command or null != null)
         then { text = "give exactly one of 'tcpPort' or 'command'"; } else null)
        (let p = v.tcpPort or null; in
          if p == null then null
          else if !(builtins.isInt p) then wrong "an integer" p // { at = ".tcpPort"; pos = unsafeGetAttrPos "tcpPort" v; }
          else if p < 1 || p > 65535 then {
            at = ".tcpPort"; pos = unsafeGetAttrPos "tcpPort" v;
            text = "${toString p} is not a TCP port";
          }
          else null)
        (let t = v.timeout or null; in
          if t == null || (builtins.isInt t && t >= 0) then null
          else {
            at = ".timeout"; pos = unsafeGetAttrPos "timeout" v;
            text = "expected a non-negative integer, got ${if builtins.isInt t then toString t else kindOf t}";
          })
      ]);
  }
  // sameCheck (nameCheck "process") [ "name" "instanceName" ]
  // sameCheck text [ "description" "directory" "initialize" "pidFile" "globalInstructions" ]
  // sameCheck bool [ "processIsDaemon" "enableDaemonOutputLogging" "allowPrivilegedCredentials" ]
  // sameCheck scalars [ "args" "path" "paths" "removeActivities" "logFiles" ]
  // sameCheck levels [ "runlevels" "defaultStart" "defaultStop" ];
in
rec {
  /**
    The process name of a description: `name`, else `instanceName`. Throws, at the
    user's file and line, when the description is not a set, has neither, or the one it
    has is not a string.

    # Inputs

    `spec`

    : The process description.

    # Type

    ```
    processName :: AttrSet -> String
    ```

    # Examples
    :::{.example}
    ## `processName` usage example

    ```nix
    processName { instanceName = "webapp1"; process = "/bin/webapp"; }
    => "webapp1"
    ```

    :::
  */
  processName = spec:
    let
      checkString = attr:
        let value = spec.${attr}; in
        if builtins.isString value then value
        else throw ("process description${positionText (unsafeGetAttrPos attr spec)}: "
          + "attribute '${attr}': expected a string, got ${kindOf value}");
    in
    if !(builtins.isAttrs spec) then
      throw "createSystemVInitScript: a process description must be an attribute set, got ${kindOf spec}"
    else if spec ? name then checkString "name"
    else if spec ? instanceName then checkString "instanceName"
    else throw ("process description${describePosition spec} has no name: "
      + "set 'name' or 'instanceName'");

  /**
    Checks the kind (and the simplest values) of every attribute of a process
    description at evaluation time, on both render paths, so that a mistake is reported
    at the attribute's file and line rather than by the renderer (which names no file,
    and without the plugin runs only at build time). True, or throws

        process 'NAME' (at FILE:LINE): attribute 'ATTR': expected ..., got ...

    Names (process, account, activity and environment variable names), nested keys
    (with a suggestion) and readiness are checked too. The kind of `name`,
    `dependencies` and unknown attributes are checked elsewhere; what is left to the
    renderer (reported there with the process and attribute) is size limits;
    privileged accounts are `checkPrivileged`'s. Attributes whose value is null are
    skipped.

    # Inputs

    `name`

    : The process name.

    `supportedRunLevels`

    : The runlevels the composition supports.

    `origin`

    : The description as the user wrote it (for positions).

    `spec`

    : The same description after ../upstream-compat.nix (what is checked).

    # Type

    ```
    checkAttributes :: String -> [Int] -> AttrSet -> AttrSet -> Bool
    ```
  */
  checkAttributes = name: supportedRunLevels: origin: spec:
    builtins.all
      (attr:
        spec.${attr} == null
        || (attributeChecks.${attr} or noCheck) supportedRunLevels spec.${attr} == null
        || reportAttribute name origin attr (attributeChecks.${attr} supportedRunLevels spec.${attr}))
      (attrNames spec);

  /**
    Throws the problem `checkAttributes` found with an attribute, at the problem's
    position, else at the attribute's.

    # Inputs

    `name`

    : The process name.

    `spec`

    : The description as the user wrote it (for positions).

    `attr`

    : The attribute.

    `problem`

    : The problem, `{ text; at ? ...; pos ? ...; }`.

    # Type

    ```
    reportAttribute :: String -> AttrSet -> String -> AttrSet -> a
    ```
  */
  reportAttribute = name: spec: attr: problem:
    throw ("process '${name}'"
      + positionText (if problem.pos or null != null then problem.pos else unsafeGetAttrPos attr spec)
      + ": attribute '${if problem.at or null == null then attr else "${attr}${problem.at}"}': "
      + problem.text);

  /**
    Throws for the first unknown attribute of a process description (one not in
    `knownAttributes`), at its position and with the closest known attribute. Call it
    only when there is one.

    # Inputs

    `name`

    : The process name.

    `spec`

    : The process description.

    # Type

    ```
    unknownAttribute :: String -> AttrSet -> a
    ```
  */
  unknownAttribute = name: spec:
    let attr = head (attrNames (builtins.removeAttrs spec knownAttributes));
    in throw ("process '${name}'${positionText (unsafeGetAttrPos attr spec)}: "
      + "unknown attribute '${attr}'${suggestion attr}");
}
