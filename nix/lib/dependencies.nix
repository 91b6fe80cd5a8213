# Dependencies: a process's `dependencies` as the renderer takes them, and the chain of
# dependencies that decides its start sequence.
let
  inherit (builtins) foldl';
  inherit (import ./messages.nix) kindOf;
in
rec {
  /**
    One element of `dependencies` as the renderer takes it, `{ name; sequence; }`.

    The element is a process made by createSystemVInitScript (a derivation with
    `sequence`; its name is its `processName`, else its `name`), or an instance
    `{ pkg = <such a process>; }`. Anything else throws, naming the process and its
    position.

    # Inputs

    `name`

    : The name of the process whose dependency this is.

    `where`

    : Its position text (see `describePosition`).

    `d`

    : The element.

    # Type

    ```
    dependencyOf :: String -> String -> AttrSet -> { name :: String; sequence :: Int; }
    ```

    # Examples
    :::{.example}
    ## `dependencyOf` usage example

    ```nix
    dependencyOf "web" "" { pkg = { processName = "db"; name = "db-sysvinit"; sequence = 1; }; }
    => { name = "db"; sequence = 1; }
    ```

    :::
  */
  dependencyOf = name: where: d:
    if builtins.isAttrs d && d ? sequence then {
      name = d.processName or d.name;
      inherit (d) sequence;
    }
    else if builtins.isAttrs d && d ? pkg then dependencyOf name where d.pkg
    else throw ("process '${name}'${where}: dependencies: every element must be a "
      + "process made by createSystemVInitScript (a derivation with 'sequence'), got "
      + (if builtins.isAttrs d then "an attribute set without 'sequence'" else kindOf d));

  /**
    The longest dependency chain ending in a process, as a list of process names from
    the first process to this one (for the message of a chain that is too deep).

    The chain goes through the dependency with the highest sequence; a process records
    its own chain as `chain`, so only one level is looked at.

    # Inputs

    `name`

    : The process name.

    `given`

    : Its `dependencies`, already checked by `dependencyOf`.

    # Type

    ```
    chainOf :: String -> [AttrSet] -> [String]
    ```

    # Examples
    :::{.example}
    ## `chainOf` usage example

    ```nix
    chainOf "web" [ { processName = "db"; sequence = 2; chain = [ "disk" "db" ]; } ]
    => [ "disk" "db" "web" ]
    ```

    :::
  */
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
}
