# Error messages: how a value's kind is worded, where a user's attribute was written,
# and the "did you mean" suggestion for a misspelt name.
let
  inherit (builtins) attrNames filter foldl' genList head length stringLength substring
    unsafeGetAttrPos;

  /**
    The smallest of three numbers.

    # Inputs

    `a`, `b`, `c`

    : The numbers to compare.

    # Type

    ```
    min3 :: Int -> Int -> Int -> Int
    ```
  */
  min3 = a: b: c:
    let m = if a < b then a else b; in if m < c then m else c;

  /**
    The characters of a string, as a list of one-character strings.

    # Inputs

    `s`

    : The string to take apart.

    # Type

    ```
    chars :: String -> [String]
    ```
  */
  chars = s: genList (i: substring i 1 s) (stringLength s);
in
rec {
  /**
    Words the kind of a value the way error messages use it: "an integer", "a list",
    "an attribute set", ...

    Kinds without a wording of their own are given as `builtins.typeOf` names them.

    # Inputs

    `v`

    : Any value.

    # Type

    ```
    kindOf :: Any -> String
    ```

    # Examples
    :::{.example}
    ## `kindOf` usage example

    ```nix
    kindOf [ 1 2 ]
    => "a list"
    kindOf { }
    => "an attribute set"
    ```

    :::
  */
  kindOf = v: {
    int = "an integer"; bool = "a Boolean"; string = "a string"; path = "a path";
    null = "null"; set = "an attribute set"; list = "a list"; lambda = "a function";
    float = "a float";
  }.${builtins.typeOf v} or (builtins.typeOf v);

  /**
    The Levenshtein distance of two strings: how many one-character insertions,
    deletions and substitutions turn one into the other.

    It is computed row by row and is quadratic in the lengths, so it is only used on the
    error path, to find a suggestion.

    # Inputs

    `a`

    : The first string.

    `b`

    : The second string.

    # Type

    ```
    editDistance :: String -> String -> Int
    ```

    # Examples
    :::{.example}
    ## `editDistance` usage example

    ```nix
    editDistance "kitten" "sitting"
    => 3
    ```

    :::
  */
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

  /**
    The suggestion to append to a message about an unknown name: " (did you mean
    'NAME'?)" for the known name closest to the given word, or "" when none is close.

    A name is close when it is at most 1 edit away for words of up to 4 characters and
    at most 3 edits away for longer ones. Of equally close names the first one listed
    wins.

    # Inputs

    `names`

    : The known names.

    `word`

    : The name that was not found.

    # Type

    ```
    suggestAmong :: [String] -> String -> String
    ```

    # Examples
    :::{.example}
    ## `suggestAmong` usage example

    ```nix
    suggestAmong [ "process" "pidFile" ] "proces"
    => " (did you mean 'process'?)"
    suggestAmong [ "process" ] "xyz"
    => ""
    ```

    :::
  */
  suggestAmong = names: word:
    let
      scored = map (k: { inherit k; d = editDistance word k; })
        names;
      best = foldl' (acc: x: if acc == null || x.d < acc.d then x else acc) null scored;
      limit = if stringLength word <= 4 then 1 else 3;
    in
    if best != null && best.d <= limit then " (did you mean '${best.k}'?)" else "";

  /**
    " (at FILE:LINE)" for a position as `builtins.unsafeGetAttrPos` gives it, or "" for
    none.

    An expression given as text (`nix-build -E`) has no file; Nix 2.8 gives the text
    itself as the file, which is shown as `«string»`.

    # Inputs

    `pos`

    : `null`, or an attribute set with `file` and `line`.

    # Type

    ```
    positionText :: Null | { file :: String; line :: Int; ... } -> String
    ```

    # Examples
    :::{.example}
    ## `positionText` usage example

    ```nix
    positionText { file = "/srv/processes.nix"; line = 4; column = 5; }
    => " (at /srv/processes.nix:4)"
    positionText null
    => ""
    ```

    :::
  */
  positionText = pos:
    if pos == null then ""
    else if builtins.substring 0 1 pos.file == "/" then " (at ${pos.file}:${toString pos.line})"
    else " (at «string»:${toString pos.line})";

  /**
    " (at FILE:LINE)" for where an attribute set was written, or "".

    The position is that of its `name`, else its `instanceName`, else its first
    attribute; an empty set, or a value that is not a set, has none.

    # Inputs

    `spec`

    : The attribute set, typically a process description.

    # Type

    ```
    describePosition :: Any -> String
    ```
  */
  describePosition = spec:
    let
      names = attrNames spec;
      preferred = filter (n: spec ? ${n}) [ "name" "instanceName" ]
        ++ names;
    in
    if builtins.isAttrs spec && preferred != [ ]
    then positionText (unsafeGetAttrPos (head preferred) spec)
    else "";

  /**
    The message for a problem only the renderer found, with the description's position
    added after the process name.

    The renderer's messages start with "process 'NAME': "; that prefix is replaced by
    one that carries the position. A message without the prefix is kept whole.

    # Inputs

    `name`

    : The process name.

    `where`

    : The position text of the description, as `describePosition` gives it.

    `message`

    : The renderer's message.

    # Type

    ```
    rendererProblem :: String -> String -> String -> String
    ```

    # Examples
    :::{.example}
    ## `rendererProblem` usage example

    ```nix
    rendererProblem "web" " (at /srv/p.nix:3)" "process 'web': pidFile is too long"
    => "process 'web' (at /srv/p.nix:3): pidFile is too long"
    ```

    :::
  */
  rendererProblem = name: where: message:
    let prefix = "process '${name}': "; n = stringLength prefix; in
    "process '${name}'${where}: "
    + (if substring 0 n message == prefix then substring n (stringLength message) message
       else message);
}
