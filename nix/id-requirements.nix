# The unique-id requirements of a processes model, for nixproc-sysvinit-id-assign:
#
#   nix-instantiate --eval --strict --json nix/id-requirements.nix \
#     --arg exprFile ./processes.nix   # required: path of the processes model
#     [--argstr serviceProperty NAME]  # optional: the attribute to read; by default both
#                                      #   requireUniqueIdsFor and requiresUniqueIdsFor
#     [the other arguments of build-profile.nix: stateDir, runtimeDir, ..., pkgs, system,
#      forceDisableUserChange, extraParams, cliArgs]
#
# The model is called by ./call-model.nix, as build-profile.nix calls it (the same
# arguments, only those it declares, the same choice of package set), so it sees what a
# deployment sees. The result maps every instance to { kind = builtins.typeOf VALUE;
# properties = { ATTRIBUTE = LIST; }; }, with only the requirement attributes the
# instance has; a list element that is not a string, and a value that is not a list, become
# { kind = builtins.typeOf ELEMENT; } for the tool to report. Nothing else of an
# instance is looked at: its `pkg` need not build, or even evaluate.
{ exprFile
, serviceProperty ? null
  # The other arguments are those of ./call-model.nix.
, ...
}@args:

let
  inherit (import ./call-model.nix (builtins.removeAttrs args [ "serviceProperty" ]))
    processes;

  properties =
    if serviceProperty == null then [ "requireUniqueIdsFor" "requiresUniqueIdsFor" ]
    else [ serviceProperty ];

  describe = value:
    if builtins.isList value then
      map (e: if builtins.isString e then e else { kind = builtins.typeOf e; }) value
    else { kind = builtins.typeOf value; };

  instance = value:
    if builtins.isAttrs value then {
      kind = "set";
      properties = builtins.listToAttrs (map
        (p: { name = p; value = describe value.${p}; })
        (builtins.filter (p: value ? ${p}) properties));
    }
    else { kind = builtins.typeOf value; };
in
if !(builtins.isAttrs processes) then
  throw "processes model in ${toString exprFile}: must evaluate to an attribute set of instances, got ${builtins.typeOf processes}"
else
  builtins.mapAttrs (_: instance) processes
