# The vocabulary of the checks at evaluation time: small tests of a value that give a
# problem or null, and ways to combine them.
#
# A problem is an attribute set { text; at ? ...; pos ? ...; }: `text` says what is
# wrong, `at` where below the checked attribute (".key", "[i]", ".key[i]"; absent for
# the attribute itself) and `pos` the position to report (absent for the attribute's
# own). A check of an attribute (type `Check` below) takes the supported runlevels and
# the value and gives a problem or null.
let
  inherit (builtins) attrNames concatStringsSep foldl' genList head length listToAttrs
    unsafeGetAttrPos;
  inherit (import ./messages.nix) kindOf suggestAmong;
in
rec {
  /**
    The problem "expected EXPECTED, got KIND" for a value of the wrong kind.

    # Inputs

    `expected`

    : The kind wanted, as the message words it ("a string").

    `v`

    : The value found.

    # Type

    ```
    wrong :: String -> Any -> { text :: String; }
    ```

    # Examples
    :::{.example}
    ## `wrong` usage example

    ```nix
    wrong "a string" 3
    => { text = "expected a string, got an integer"; }
    ```

    :::
  */
  wrong = expected: v: { text = "expected ${expected}, got ${kindOf v}"; };

  /**
    Whether a value can stand for text: a string, a path, or a set with `outPath`
    (a derivation).

    # Inputs

    `v`

    : Any value.

    # Type

    ```
    isText :: Any -> Bool
    ```
  */
  isText = v: builtins.isString v || builtins.isPath v || (builtins.isAttrs v && v ? outPath);

  /**
    Whether a value is text (see `isText`), an integer, a Boolean or a float: what the
    renderer turns into a string.

    # Inputs

    `v`

    : Any value.

    # Type

    ```
    isScalar :: Any -> Bool
    ```
  */
  isScalar = v: isText v || builtins.isInt v || builtins.isBool v || builtins.isFloat v;

  /**
    Whether a value is an attribute set that is not a derivation (has no `outPath`).

    # Inputs

    `v`

    : Any value.

    # Type

    ```
    plainSet :: Any -> Bool
    ```
  */
  plainSet = v: builtins.isAttrs v && !(v ? outPath);

  /**
    The first problem of a list of problems, or null when all are null.

    The elements are looked at in order and may be computed lazily.

    # Inputs

    `problems`

    : A list of problems and nulls.

    # Type

    ```
    firstProblem :: [Problem] -> Problem
    ```
  */
  firstProblem = foldl' (found: p: if found != null then found else p) null;

  /**
    The problem of the first element of a list that `f` finds wrong, with the
    element's index as its `at`; "expected EXPECTED" when the value is not a list;
    null when every element passes.

    # Inputs

    `expected`

    : The kind wanted, as the message words it ("a list of strings").

    `f`

    : A function of one element giving a problem or null.

    `v`

    : The value to check.

    # Type

    ```
    firstInList :: String -> (Any -> Problem) -> Any -> Problem
    ```

    # Examples
    :::{.example}
    ## `firstInList` usage example

    ```nix
    firstInList "a list of integers" (x: if builtins.isInt x then null else wrong "an integer" x) [ 1 "2" ]
    => { at = "[1]"; text = "expected an integer, got a string"; }
    ```

    :::
  */
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

  /**
    The problem with the first key of a nested set that is not one of the known names,
    reported at the key's own position and with the closest known name; or null.

    # Inputs

    `names`

    : The keys the set may have.

    `at`

    : Where the set is below the checked attribute ("" for the attribute itself).

    `v`

    : The set.

    # Type

    ```
    unknownKey :: [String] -> String -> AttrSet -> Problem
    ```
  */
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

  /**
    Checks that a nested set is a set of entries that are each null or a set with only
    the given keys (as `instructions`: every activity's entry has `activity` and
    `instruction`). Gives the first problem, or null.

    # Inputs

    `names`

    : The keys each entry may have.

    `at`

    : Where the set is below the checked attribute ("" for the attribute itself).

    `v`

    : The set of entries.

    # Type

    ```
    entriesWith :: [String] -> String -> Any -> Problem
    ```
  */
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

  /**
    The check of an attribute that must be a plain attribute set (not a derivation)
    which passes `check`.

    # Inputs

    `check`

    : A function of the set giving a problem or null.

    # Type

    ```
    setWith :: (AttrSet -> Problem) -> Check
    ```
  */
  setWith = check: _: v: if plainSet v then check v else wrong "an attribute set" v;

  /**
    The check of an attribute that is a Boolean or a set with only the given keys (as
    `respawn` and `logRotate`).

    # Inputs

    `keys`

    : The keys the set may have.

    # Type

    ```
    boolOrKeys :: [String] -> Check
    ```
  */
  boolOrKeys = keys: _: v:
    if builtins.isBool v then null
    else if plainSet v then unknownKey keys "" v
    else wrong "a Boolean or an attribute set" v;

  /**
    The check of an attribute that must be text (see `isText`).

    # Type

    ```
    text :: Check
    ```
  */
  text = _: v: if isText v then null else wrong "a string" v;

  /**
    The check of an attribute that must be a Boolean.

    # Type

    ```
    bool :: Check
    ```
  */
  bool = _: v: if builtins.isBool v then null else wrong "a Boolean" v;

  /**
    The check of an attribute that must be a list of scalars (see `isScalar`), as
    `args` and `path`.

    # Type

    ```
    scalars :: Check
    ```
  */
  scalars = _: firstInList "a list of strings"
    (x: if isScalar x then null else wrong "a string" x);

  /**
    The check of an attribute that must be a list of runlevels, each one of the
    supported runlevels.

    # Inputs

    `supported`

    : The supported runlevels (the composition's `supportedRunLevels`).

    # Type

    ```
    levels :: Check
    ```

    # Examples
    :::{.example}
    ## `levels` usage example

    ```nix
    levels [ 2 3 ] [ 3 4 ]
    => { at = "[1]"; text = "4 is not a supported runlevel (supportedRunLevels: 2 3)"; }
    ```

    :::
  */
  levels = supported: firstInList "a list of integers"
    (x:
      if !(builtins.isInt x) then wrong "an integer" x
      else if builtins.elem x supported then null
      else {
        text = "${toString x} is not a supported runlevel (supportedRunLevels: "
          + concatStringsSep " " (map toString supported) + ")";
      });

  /**
    The check of an attribute that is not checked here: never a problem.

    # Type

    ```
    noCheck :: Check
    ```
  */
  noCheck = _: _: null;

  /**
    An attribute set giving the same check to each of the given attribute names.

    # Inputs

    `check`

    : The check.

    `names`

    : The attributes it checks.

    # Type

    ```
    sameCheck :: Check -> [String] -> { ${name} :: Check; }
    ```
  */
  sameCheck = check: names: listToAttrs (map (name: { inherit name; value = check; }) names);
}
