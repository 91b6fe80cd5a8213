# Names: the renderer's rules for process, account, activity and environment variable
# names (`spec::NameKind`), and the checks that apply them.
let
  inherit (builtins) attrNames stringLength unsafeGetAttrPos;
  inherit (import ./problems.nix) firstProblem wrong;
in
rec {
  /**
    The rules of each kind of name: a pattern for `builtins.match`, a maximum length,
    and the rule as the messages word it. They are the renderer's; keep them the same.
  */
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

  /**
    Null when a string is a valid name of the given kind, else the problem.

    # Inputs

    `kind`

    : One of the kinds of `nameRules`: "process", "account", "activity", "variable".

    `s`

    : The name.

    # Type

    ```
    badName :: String -> String -> Problem
    ```

    # Examples
    :::{.example}
    ## `badName` usage example

    ```nix
    badName "account" "web"
    => null
    badName "variable" "1PORT"
    => { text = "\"1PORT\" is not a valid environment variable name (a letter or _ first, then letters, digits, _)"; }
    ```

    :::
  */
  badName = kind: s:
    let r = nameRules.${kind}; in
    if stringLength s <= r.max && builtins.match r.pattern s != null then null
    else { text = "${builtins.toJSON s} is not a valid ${r.rule}"; };

  /**
    The check of an attribute that must be a valid name of the given kind (as `user`,
    an account name).

    # Inputs

    `kind`

    : The kind of name (see `badName`).

    # Type

    ```
    nameCheck :: String -> Check
    ```
  */
  nameCheck = kind: _: v: if builtins.isString v then badName kind v else wrong "a string" v;

  /**
    Checks a nested set whose names are names of the given kind and whose values each
    pass `value` (as `environment`: variable names, scalar values). Gives the first
    problem, at the entry's position (or at the one the value's problem has), or null.

    # Inputs

    `kind`

    : The kind of the names (see `badName`).

    `value`

    : A function of one value giving a problem or null.

    `at`

    : Where the set is below the checked attribute ("" for the attribute itself).

    `v`

    : The set.

    # Type

    ```
    namedEntries :: String -> (Any -> Problem) -> String -> AttrSet -> Problem
    ```
  */
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
}
