# The helpers shared by the Nix functions of this directory, one topic per file of
# ./lib, in the manner of nixpkgs' lib/. This file only gathers what the other files
# use, so that they import it alone; each file of ./lib documents its functions.
let
  attributes = import ./lib/attributes.nix;
  builders = import ./lib/builders.nix;
  credentials = import ./lib/credentials.nix;
  dependencies = import ./lib/dependencies.nix;
  messages = import ./lib/messages.nix;
  rendererLists = import ./lib/renderer-lists.nix;
  tree = import ./lib/tree.nix;
in
{
  # The renderer's lists of attribute names, keys and privileged groups (a test checks
  # them against src/spec/).
  inherit (rendererLists) knownAttributes credentialKinds groupKeys userKeys
    readinessKeys instructionKeys privilegedGroups respawnKeys logRotateKeys limitNames;

  # Error messages: kinds, positions, suggestions.
  inherit (messages) kindOf editDistance suggestAmong describePosition rendererProblem;

  # The checks of a process description's name and attributes.
  inherit (attributes) processName checkAttributes reportAttribute unknownAttribute;

  # The checks of credentials: privileged accounts, the groups a profile's users name.
  inherit (credentials) checkPrivileged checkGroups;

  # Dependencies and the chain behind a start sequence.
  inherit (dependencies) dependencyOf chainOf;

  # What the derivations share: builder, system, render tool, store names, quoting.
  inherit (builders) builderFor systemFor renderPackageFor dropNulls storeName quote;

  # The derivation writing a process tree from the plugin's rendering.
  inherit (tree) treeAttrs putFunction credentialsWrite credentialsBuilder treeBuilder;
}
