# Credentials: the checks of a process's `credentials` (the groups and users it makes),
# of privileged accounts, and of the groups a profile's users name.
let
  inherit (builtins) attrNames filter foldl' head listToAttrs unsafeGetAttrPos;
  inherit (import ./messages.nix) positionText suggestAmong;
  inherit (import ./problems.nix) entriesWith firstInList firstProblem isScalar plainSet
    unknownKey wrong;
  inherit (import ./names.nix) badName namedEntries;
  inherit (import ./renderer-lists.nix) credentialKinds groupKeys privilegedGroups
    userKeys;
in
rec {
  /**
    Checks the properties of one credentials entry: each is a scalar; `group` and the
    elements of `extraGroups` (a list, or a comma-separated string) are account names.
    Gives the first problem, at the property, or null. A value that is not a plain set
    is left to `entriesWith`.

    # Inputs

    `props`

    : The entry, as `{ group = "web"; extraGroups = [ "log" ]; }`.

    # Type

    ```
    accountProperties :: Any -> Problem
    ```
  */
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

  /**
    Checks a process's `credentials` set: only `groups` and `users`, entries with only
    their known keys, valid account names and properties (see `accountProperties`).
    Gives the first problem, or null. Privileged accounts are `checkPrivileged`'s.

    # Inputs

    `v`

    : The `credentials` attribute set.

    # Type

    ```
    credentialsProblem :: AttrSet -> Problem
    ```
  */
  credentialsProblem = v:
    firstProblem [
      (unknownKey credentialKinds "" v)
      (if v.groups or null == null then null else entriesWith groupKeys ".groups" v.groups)
      (if v.users or null == null then null else entriesWith userKeys ".users" v.users)
      (if v.groups or null == null then null else namedEntries "account" accountProperties ".groups" v.groups)
      (if v.users or null == null then null else namedEntries "account" accountProperties ".users" v.users)
    ];

  /**
    Whether a uid or gid, as a number or a string, is zero ("0", " 00", "+0").

    # Inputs

    `v`

    : The id.

    # Type

    ```
    isZero :: Int | String -> Bool
    ```
  */
  isZero = v: builtins.match "[[:space:]]*[+]?0+[[:space:]]*" (toString v) != null;

  /**
    The privileged group a group name or gid stands for, or null: "root" for gid 0,
    the name itself when it is one of `privilegedGroups`. Spaces are ignored.

    # Inputs

    `g`

    : A group name or gid.

    # Type

    ```
    privilegedGroup :: Int | String -> Null | String
    ```

    # Examples
    :::{.example}
    ## `privilegedGroup` usage example

    ```nix
    privilegedGroup 0
    => "root"
    privilegedGroup "wheel"
    => "wheel"
    privilegedGroup "web"
    => null
    ```

    :::
  */
  privilegedGroup = g:
    let t = builtins.replaceStrings [ " " ] [ "" ] (toString g); in
    if isZero t then "root" else if builtins.elem t privilegedGroups then t else null;

  /**
    The renderer's rule for privileged credentials (`spec::privileged_credential`),
    applied to one entry: null, or `{ at; pos; what; }` where `what` says what the entry
    would do ("gives user 'web' uid 0 (root)") and `at` and `pos` point at the key
    responsible (or at the entry).

    A group entry is privileged when it has gid 0 or a privileged name; a user entry
    when it has uid 0, when it has no `group` and a privileged name (it would create
    that group as its own), or when its `group` or one of its `extraGroups` is
    privileged.

    # Inputs

    `kind`

    : "groups" or "users".

    `entries`

    : The set of entries of that kind (for the entry's position).

    `n`

    : The entry's name.

    `props`

    : The entry.

    # Type

    ```
    privilegedProblem :: String -> AttrSet -> String -> Any -> Null | { at :: String; pos :: Null | AttrSet; what :: String; }
    ```
  */
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

  /**
    Refuses credentials that would give an account root-equivalent rights (the
    renderer's rule and wording, see `privilegedProblem`), at the entry's file and
    line, unless the process sets `allowPrivilegedCredentials = true` (the caller then
    does not call this). True, or throws.

    # Inputs

    `name`

    : The process name.

    `credentials`

    : The process's `credentials`.

    # Type

    ```
    checkPrivileged :: String -> AttrSet -> Bool
    ```
  */
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

  /**
    Checks that every group the users of a profile's credentials name (`group`, and
    `extraGroups` as a list or a comma-separated string) is made by the profile's own
    credentials or exists on the evaluating machine. True, or throws naming the
    process, the user's file and line, and the closest group the profile makes.

    The machine's groups are read from its /etc/group, and only in impure evaluation;
    in pure evaluation only the profile's groups count. A `user` that has no
    credentials and no account is found by the switch, before anything stops.

    # Inputs

    `given`

    : The `accounts` of a profile's processes and createCredentials results, each
      `{ process; groups; users; }`; elements that are not sets are skipped.

    # Type

    ```
    checkGroups :: [Any] -> Bool
    ```
  */
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
}
