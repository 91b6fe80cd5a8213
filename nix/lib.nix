# Small builtins-only helpers shared by the Nix functions of this directory: checks that
# point at the user's file, shell quoting for builder scripts, and the writer of a
# process tree from the evaluator plugin's result.
let
  inherit (builtins) attrNames concatStringsSep filter foldl' genList head length
    listToAttrs stringLength substring unsafeGetAttrPos;

  # The attributes a process description may have (ARCHITECTURE.md, renderer input).
  knownAttributes = [
    "name" "instanceName" "description" "activities" "instructions" "process" "args"
    "processIsDaemon" "environment" "dependencies" "user" "credentials" "umask" "nice"
    "directory" "path" "paths" "initialize" "removeActivities" "runlevels"
    "defaultStart" "defaultStop" "pidFile" "reloadSignal" "globalInstructions"
    "enableDaemonOutputLogging" "readiness"
    "allowPrivilegedCredentials" "respawn" "logRotate" "limits" "logFiles" "secrets"
  ];

  min3 = a: b: c:
    let m = if a < b then a else b; in if m < c then m else c;

  chars = s: genList (i: substring i 1 s) (stringLength s);

  # Levenshtein distance; only used on the error path.
  editDistance = a: b:
    let
      bs = chars b;
      step = prev: ca:
        let
          row = foldl'
            (acc: j:
              let
                cost = if ca == builtins.elemAt bs j then 0 else 1;
                value = min3
                  (builtins.elemAt prev (j + 1) + 1)
                  (builtins.elemAt acc j + 1)
                  (builtins.elemAt prev j + cost);
              in
              acc ++ [ value ])
            [ (head prev + 1) ]
            (genList (j: j) (length bs));
        in
        row;
      final = foldl' step (genList (j: j) (length bs + 1)) (chars a);
    in
    builtins.elemAt final (length bs);

  suggestion = suggestAmong knownAttributes;

  # " (did you mean 'NAME'?)" for the name of `names` closest to `word`, or "".
  suggestAmong = names: word:
    let
      scored = map (k: { inherit k; d = editDistance word k; })
        names;
      best = foldl' (acc: x: if acc == null || x.d < acc.d then x else acc) null scored;
      limit = if stringLength word <= 4 then 1 else 3;
    in
    if best != null && best.d <= limit then " (did you mean '${best.k}'?)" else "";

  # "an integer", "a list", ... for error messages.
  kindOf = v: {
    int = "an integer"; bool = "a Boolean"; string = "a string"; path = "a path";
    null = "null"; set = "an attribute set"; list = "a list"; lambda = "a function";
    float = "a float";
  }.${builtins.typeOf v} or (builtins.typeOf v);

  # The checks of `checkAttributes`: each takes the supported runlevels and the value and
  # returns null or { text; at ? "[i]"; }.
  wrong = expected: v: { text = "expected ${expected}, got ${kindOf v}"; };
  isText = v: builtins.isString v || builtins.isPath v || (builtins.isAttrs v && v ? outPath);
  isScalar = v: isText v || builtins.isInt v || builtins.isBool v || builtins.isFloat v;
  text = _: v: if isText v then null else wrong "a string" v;
  bool = _: v: if builtins.isBool v then null else wrong "a Boolean" v;
  # An attribute set (not a derivation) that passes `check`, a function of the set.
  setWith = check: _: v: if plainSet v then check v else wrong "an attribute set" v;
  # The first element of list `v` for which `f` gives a problem, that problem with its index.
  firstInList = expected: f: v:
    if !(builtins.isList v) then wrong expected v
    else if builtins.all (x: f x == null) v then null
    else foldl'
      (found: i:
        if found != null then found
        else
          let p = f (builtins.elemAt v i); in
          if p == null then null else p // { at = "[${toString i}]"; })
      null
      (genList (i: i) (length v));
  scalars = _: firstInList "a list of strings"
    (x: if isScalar x then null else wrong "a string" x);
  levels = supported: firstInList "a list of integers"
    (x:
      if !(builtins.isInt x) then wrong "an integer" x
      else if builtins.elem x supported then null
      else {
        text = "${toString x} is not a supported runlevel (supportedRunLevels: "
          + concatStringsSep " " (map toString supported) + ")";
      });
  # The renderer's key lists of nested attribute sets (src/spec.rs; a test checks that
  # they agree).
  credentialKinds = [ "groups" "users" ];
  groupKeys = [ "gid" ];
  userKeys = [ "group" "extraGroups" "description" "homeDir" "createHomeDir" "shell" "uid" ];
  readinessKeys = [ "tcpPort" "tcpHost" "command" "timeout" ];
  instructionKeys = [ "activity" "instruction" ];
  respawnKeys = [ "delay" "attempts" "window" "settle" ];
  logRotateKeys = [ "maxSize" "keep" ];
  limitNames = [
    "as" "core" "cpu" "cpuWeight" "data" "fsize" "locks" "memlock" "memory" "msgqueue"
    "nice" "nofile" "nproc" "pids" "rss" "rtprio" "rttime" "sigpending" "stack"
  ];
  # A Boolean, or a set of `keys` only (respawn, logRotate).
  boolOrKeys = keys: _: v:
    if builtins.isBool v then null
    else if plainSet v then unknownKey keys "" v
    else wrong "a Boolean or an attribute set" v;

  plainSet = v: builtins.isAttrs v && !(v ? outPath);
  # The first problem of a list of (lazily computed) problems, or null.
  firstProblem = foldl' (found: p: if found != null then found else p) null;
  # An unknown key of the nested set `v` (at `at` below the attribute), reported at the
  # key's own position with the closest known key.
  unknownKey = names: at: v:
    let unknown = attrNames (builtins.removeAttrs v names); in
    if unknown == [ ] then null
    else
      let k = head unknown; in
      {
        at = "${at}.${k}";
        pos = unsafeGetAttrPos k v;
        text = "unknown attribute '${k}'${suggestAmong names k}";
      };
  # Every entry of the nested set `v` (at `at`) is a set with only `names` as keys.
  entriesWith = names: at: v:
    if !(plainSet v) then { inherit at; text = "expected an attribute set, got ${kindOf v}"; }
    else firstProblem (map
      (n:
        let e = v.${n}; in
        if e == null then null
        else if !(plainSet e) then {
          at = "${at}.${n}";
          pos = unsafeGetAttrPos n v;
          text = "expected an attribute set, got ${kindOf e}";
        }
        else unknownKey names "${at}.${n}" e)
      (attrNames v));

  # The renderer's name rules (spec::NameKind): a pattern, a maximum length and the
  # rule as its messages word it.
  nameRules = {
    process = {
      pattern = "[A-Za-z0-9_@+:][A-Za-z0-9._@+:-]*";
      max = 200;
      rule = "process name (use letters, digits and . _ - @ + :, not starting with . or -)";
    };
    account = {
      pattern = "[A-Za-z_][A-Za-z0-9_.-]*";
      max = 32;
      rule = "user or group name (a letter or _ first, then letters, digits, _ . -; at most 32)";
    };
    activity = {
      pattern = "[A-Za-z0-9][A-Za-z0-9_.-]*";
      max = 100;
      rule = "activity name (letters, digits, _ . -)";
    };
    variable = {
      pattern = "[A-Za-z_][A-Za-z0-9_]*";
      max = 200;
      rule = "environment variable name (a letter or _ first, then letters, digits, _)";
    };
  };
  # null when `s` is a valid name of `kind`, else the problem.
  badName = kind: s:
    let r = nameRules.${kind}; in
    if stringLength s <= r.max && builtins.match r.pattern s != null then null
    else { text = "${builtins.toJSON s} is not a valid ${r.rule}"; };
  nameCheck = kind: _: v: if builtins.isString v then badName kind v else wrong "a string" v;
  # Every name of the nested set `v` (at `at`) is a valid name of `kind` and every value
  # passes `value` (a function of the value giving null or a problem).
  namedEntries = kind: value: at: v:
    firstProblem (map
      (n:
        let p = if badName kind n == null then value v.${n} else badName kind n; in
        if p == null then null
        else p // {
          at = "${at}.${n}${p.at or ""}";
          pos = if p.pos or null != null then p.pos else unsafeGetAttrPos n v;
        })
      (attrNames v));
  # The properties of a credentials entry: scalars; `group` and the elements of
  # `extraGroups` (a list, or a comma-separated string) account names.
  accountProperties = props:
    if !(plainSet props) then null
    else firstProblem (map
      (k:
        let
          x = props.${k};
          p =
            if x == null then null
            else if k == "extraGroups" && builtins.isList x then
              firstInList "a list of strings"
                (g: if builtins.isString g then badName "account" g else wrong "a string" g) x
            else if !(isScalar x) then wrong "a string" x
            else if k == "group" && builtins.isString x then badName "account" x
            else null;
        in
        if p == null then null
        else p // { at = ".${k}${p.at or ""}"; pos = unsafeGetAttrPos k props; })
      (attrNames props));
  # The reload signal as the renderer takes it: "-HUP", "HUP", "SIGHUP", "1", ...
  signalProblem = _: v:
    let s = if builtins.isInt v then toString v else v; in
    if !(builtins.isString s) then wrong "a string" v
    else if builtins.match "-?(SIG)?[A-Z0-9+-]+" s != null && s != "SIG" && s != "-SIG" then null
    else { text = "${builtins.toJSON s} is not a signal such as \"-HUP\" or \"USR1\""; };

  # spec::PRIVILEGED_GROUPS (a test checks that they agree).
  privilegedGroups = [
    "root" "wheel" "sudo" "admin" "adm" "systemd-journal" "shadow" "disk" "kmem" "docker"
    "lxd" "incus-admin" "libvirt" "kvm" "staff"
  ];
  isZero = v: builtins.match "[[:space:]]*[+]?0+[[:space:]]*" (toString v) != null;
  # The privileged group `g` names (a gid of 0 is root's group), or null.
  privilegedGroup = g:
    let t = builtins.replaceStrings [ " " ] [ "" ] (toString g); in
    if isZero t then "root" else if builtins.elem t privilegedGroups then t else null;
  # spec::privileged_credential at evaluation time: null, or the problem with the
  # credential entry `props` named `n` of `kind` ("groups" or "users") in `entries`.
  privilegedProblem = kind: entries: n: props:
    let
      at = key: {
        at = ".${kind}.${n}${if key == null then "" else ".${key}"}";
        pos = if key == null then unsafeGetAttrPos n entries else unsafeGetAttrPos key props;
      };
      extra =
        let e = props.extraGroups or null; in
        if builtins.isList e then e
        else if e == null then [ ]
        else filter builtins.isString (builtins.split "," (toString e));
      extraHit = foldl' (found: g: if found != null then found else privilegedGroup g) null
        (filter (g: builtins.match "[[:space:]]*" (toString g) == null) extra);
      primary = if props.group or null == null then null else privilegedGroup props.group;
    in
    if !(plainSet props) then null
    else if kind == "groups" then
      (if props.gid or null != null && isZero props.gid
       then at "gid" // { what = "gives group '${n}' gid 0 (root's group)"; }
       else if builtins.elem n privilegedGroups
       then at null // { what = "creates the privileged group '${n}'"; }
       else null)
    else if props.uid or null != null && isZero props.uid
    then at "uid" // { what = "gives user '${n}' uid 0 (root)"; }
    else if props.group or null == null && builtins.elem n privilegedGroups
    then at null // { what = "creates the privileged group '${n}' as the own group of user '${n}'"; }
    else if primary != null
    then at "group" // { what = "makes the privileged group '${primary}' the primary group of user '${n}'"; }
    else if extraHit != null
    then at "extraGroups" // { what = "puts user '${n}' in the privileged group '${extraHit}'"; }
    else null;

  noCheck = _: _: null;
  # `check` for each of `names`.
  sameCheck = check: names: listToAttrs (map (name: { inherit name; value = check; }) names);
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
    credentials = setWith (v:
      firstProblem [
        (unknownKey credentialKinds "" v)
        (if v.groups or null == null then null else entriesWith groupKeys ".groups" v.groups)
        (if v.users or null == null then null else entriesWith userKeys ".users" v.users)
        (if v.groups or null == null then null else namedEntries "account" accountProperties ".groups" v.groups)
        (if v.users or null == null then null else namedEntries "account" accountProperties ".users" v.users)
      ]);
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

  # An expression given as text (nix-build -E) has no file; Nix 2.8 gives the text itself.
  positionText = pos:
    if pos == null then ""
    else if builtins.substring 0 1 pos.file == "/" then " (at ${pos.file}:${toString pos.line})"
    else " (at «string»:${toString pos.line})";
in
rec {
  inherit knownAttributes editDistance kindOf suggestAmong credentialKinds groupKeys userKeys
    readinessKeys instructionKeys privilegedGroups respawnKeys logRotateKeys limitNames;

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

  # " (at FILE:LINE)" for where an attribute set was written, or "".
  describePosition = spec:
    let
      names = attrNames spec;
      preferred = filter (n: spec ? ${n}) [ "name" "instanceName" ]
        ++ names;
    in
    if builtins.isAttrs spec && preferred != [ ]
    then positionText (unsafeGetAttrPos (head preferred) spec)
    else "";

  # The process name: `name`, else `instanceName`.
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

  # Checks the kind (and the simplest values) of every attribute of a process
  # description at evaluation time, on both render paths, so that a mistake is reported
  # at the attribute's file and line rather than by the renderer (which names no file,
  # and without the plugin runs only at build time). True, or throws
  #   process 'NAME' (at FILE:LINE): attribute 'ATTR': expected ..., got ...
  # Names (process, account, activity and environment variable names), nested keys
  # (with a suggestion) and readiness are checked too. The kind of `name`,
  # `dependencies` and unknown attributes are checked elsewhere; what is left to the
  # renderer (reported there with the process and attribute) is size limits;
  # privileged accounts are `checkPrivileged`'s.
  #
  # `origin` is the description as the user wrote it (for positions), `spec` the same
  # after ./upstream-compat.nix.
  #
  # Type: string -> [int] -> attrs -> attrs -> bool
  checkAttributes = name: supportedRunLevels: origin: spec:
    builtins.all
      (attr:
        spec.${attr} == null
        || (attributeChecks.${attr} or noCheck) supportedRunLevels spec.${attr} == null
        || reportAttribute name origin attr (attributeChecks.${attr} supportedRunLevels spec.${attr}))
      (attrNames spec);

  # The message for a problem only the renderer found (`message`, which names the process
  # as "process 'NAME': ..."), with the description's position added.
  #
  # Type: string -> string -> string -> string
  rendererProblem = name: where: message:
    let prefix = "process '${name}': "; n = stringLength prefix; in
    "process '${name}'${where}: "
    + (if substring 0 n message == prefix then substring n (stringLength message) message
       else message);

  # Throws the problem `checkAttributes` found with attribute `attr`.
  reportAttribute = name: spec: attr: problem:
    throw ("process '${name}'"
      + positionText (if problem.pos or null != null then problem.pos else unsafeGetAttrPos attr spec)
      + ": attribute '${if problem.at or null == null then attr else "${attr}${problem.at}"}': "
      + problem.text);

  # Checks that every group the users of a profile's credentials name (`group`,
  # `extraGroups` as a list or a comma-separated string) is made by the profile's own
  # credentials or exists on the evaluating machine (its /etc/group; not consulted in
  # pure evaluation, where only the profile's groups count). True, or throws naming the
  # process, the user's file and line, and the closest known group. A `user` that has
  # no credentials and no account is found by the switch, before anything stops.
  #   accounts: [ { process; groups; users; } ] (the `accounts` of processes and of
  #             createCredentials results)
  #
  # Type: [attrs] -> bool
  checkGroups = given:
    let
      accounts = filter (a: builtins.isAttrs a) given;
      made = listToAttrs (map (g: { name = g; value = null; })
        (builtins.concatMap (a: attrNames (a.groups or { })) accounts));
      impure = builtins ? currentSystem;
      machineGroups =
        if impure && builtins.pathExists /etc/group then
          listToAttrs (map (l: { name = head l; value = null; })
            (filter (m: m != null)
              (map (line: if builtins.isString line then builtins.match "([^:#]+):.*" line else null)
                (builtins.split "\n" (builtins.readFile /etc/group)))))
        else { };
      extraOf = props:
        let e = props.extraGroups or [ ]; in
        if builtins.isList e then filter builtins.isString e
        else if builtins.isString e then
          filter (g: g != "") (map (g: builtins.replaceStrings [ " " ] [ "" ] g)
            (filter builtins.isString (builtins.split "," e)))
        else [ ];
      namedBy = props:
        (if builtins.isString (props.group or null) then [ props.group ] else [ ])
        ++ extraOf props;
      missing = a: user: props:
        filter (g: !(made ? ${g}) && !(machineGroups ? ${g})) (namedBy props);
      report = a: user: props: g:
        let
          pos = unsafeGetAttrPos (if props.group or null == g then "group" else "extraGroups") props;
          known = attrNames made;
        in
        throw ("process '${a.process}'${positionText pos}: credentials: user '${user}' is in "
          + "group '${g}'${suggestAmong known g}, which no process of the profile makes"
          + (if impure then " and this machine does not have" else "")
          + "; define it in credentials.groups");
      checkUsers = a:
        let users = a.users or { }; in
        builtins.all
          (user:
            let props = users.${user}; in
            !(builtins.isAttrs props)
            || (let gone = missing a user props; in
                gone == [ ] || report a user props (head gone)))
          (attrNames users);
    in
    builtins.all checkUsers (filter (a: (a.users or { }) != { }) accounts);

  # Refuses credentials that would give an account root-equivalent rights (the
  # renderer's rule and wording, at the entry's file and line) unless the process sets
  # allowPrivilegedCredentials = true. True, or throws.
  #
  # Type: string -> attrs -> bool
  checkPrivileged = name: credentials:
    let
      entriesOf = kind:
        let e = credentials.${kind} or null; in
        if plainSet e then map (n: privilegedProblem kind e n e.${n}) (attrNames e) else [ ];
      problem = firstProblem (entriesOf "groups" ++ entriesOf "users");
    in
    !(plainSet credentials) || problem == null
    || throw ("process '${name}'${positionText problem.pos}: attribute 'credentials${problem.at}' "
      + "${problem.what}; if that is intended, set 'allowPrivilegedCredentials = true' on the process");

  # Throws for the first unknown attribute of a process description, naming its
  # position and suggesting a known one.
  unknownAttribute = name: spec:
    let attr = head (attrNames (builtins.removeAttrs spec knownAttributes));
    in throw ("process '${name}'${positionText (unsafeGetAttrPos attr spec)}: "
      + "unknown attribute '${attr}'${suggestion attr}");

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
