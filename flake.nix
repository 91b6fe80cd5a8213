{
  description = "Process management with Nix through LSB sysvinit scripts";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs = { self, nixpkgs }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" "i686-linux" "armv7l-linux" ];
      forAllSystems = f: nixpkgs.lib.genAttrs systems (system:
        f (import nixpkgs { inherit system; overlays = [ self.overlays.default ]; }));

      version = (builtins.fromTOML (builtins.readFile ./Cargo.toml)).package.version;

      # Only what cargo needs, so editing examples or docs does not rebuild the tools.
      src = nixpkgs.lib.fileset.toSource {
        root = ./.;
        fileset = nixpkgs.lib.fileset.unions [
          ./Cargo.toml
          ./Cargo.lock
          ./src
          ./nix
          ./cpp-bridge
          ./benches
          ./examples
        ];
      };
    in
    {
      overlays.default = final: prev: {
        # The render, switch, runactivity id-assign and supervise tools.
        nixproc-sysvinit = final.rustPlatform.buildRustPackage {
          pname = "nixproc-sysvinit";
          inherit version src;
          cargoLock.lockFile = ./Cargo.lock;
          cargoBuildFlags = [ "--package" "nixproc-sysvinit" "--bins" ];
          # The tests start real processes and call nix-build; run them outside the
          # build sandbox (see README).
          doCheck = false;
          # The Nix side (build-profile.nix and the functions it uses), where the
          # installed switch, runactivity and id-assign look for it.
          postInstall = ''
            mkdir -p "$out/share/nixproc-sysvinit"
            cp -r nix "$out/share/nixproc-sysvinit/nix"
          '';
          meta = {
            description = "Tools of nixproc-sysvinit: render, switch, runactivity, id-assign, supervise";
            mainProgram = "nixproc-sysvinit-switch";
            platforms = final.lib.platforms.linux;
          };
        };

        # The evaluator plugin adding builtins.sysvinitScript. It is built against the
        # headers of `nix` and only loads into that same Nix version: override `nix` to
        # match the Nix that evaluates your expressions.
        nixproc-sysvinit-plugin = final.callPackage
          ({ rustPlatform, pkg-config, nix, boost, nlohmann_json, boehmgc }:
            rustPlatform.buildRustPackage {
              pname = "nixproc-sysvinit-plugin";
              inherit version src;
              cargoLock.lockFile = ./Cargo.lock;
              cargoBuildFlags = [ "--package" "nixproc-sysvinit-plugin" ];
              nativeBuildInputs = [ pkg-config ];
              # Multiple-output packages contribute their headers (nix.dev) here.
              buildInputs = [ nix boost nlohmann_json boehmgc ];
              doCheck = false;
              # The default install hook copies the cdylib to $out/lib.
              meta = {
                description = "Nix plugin rendering sysvinit scripts at evaluation time";
                platforms = final.lib.platforms.linux;
              };
            })
          { };
      };

      packages = forAllSystems (pkgs: {
        inherit (pkgs) nixproc-sysvinit nixproc-sysvinit-plugin;
        default = pkgs.nixproc-sysvinit;
      });

      apps = forAllSystems (pkgs: rec {
        nixproc-sysvinit-switch = {
          type = "app";
          program = "${pkgs.nixproc-sysvinit}/bin/nixproc-sysvinit-switch";
        };
        nixproc-sysvinit-runactivity = {
          type = "app";
          program = "${pkgs.nixproc-sysvinit}/bin/nixproc-sysvinit-runactivity";
        };
        nixproc-sysvinit-id-assign = {
          type = "app";
          program = "${pkgs.nixproc-sysvinit}/bin/nixproc-sysvinit-id-assign";
        };
        default = nixproc-sysvinit-switch;
      });

      # Processes models, as `nixproc-sysvinit-switch --flake REF#NAME` deploys them:
      # `default` is the example of examples/webapps (the host-packages shim unless given
      # `--arg pkgs ...`).
      processes.default = import ./examples/webapps/processes.nix;

      lib = {
        # The Nix functions (create-sysvinit-script.nix, create-credentials.nix,
        # init-functions.nix, build-profile.nix...), for models that import them, e.g.
        #   import "${nixproc-sysvinit.lib.nixDir}/create-sysvinit-script.nix" { ... }
        nixDir = ./nix;

        # Composes createSystemVInitScript with a nixpkgs package set and the global
        # settings of nix/create-sysvinit-script.nix, e.g.
        #   createSystemVInitScript = nixproc-sysvinit.lib.createSystemVInitScript {
        #     inherit pkgs; runtimeDir = "/run"; forceDisableUserChange = true;
        #   };
        createSystemVInitScript =
          { pkgs
          , stateDir ? "/var"
          , runtimeDir ? "${stateDir}/run"
          , logDir ? "${stateDir}/log"
          , tmpDir ? (if stateDir == "/var" then "/tmp" else "${stateDir}/tmp")
          , forceDisableUserChange ? false
          , ...
          }@args:
          let
            withTools = pkgs.extend self.overlays.default;
          in
          import ./nix/create-sysvinit-script.nix
            (builtins.removeAttrs args [ "pkgs" "stateDir" ] // {
              inherit (pkgs) stdenv writeTextFile daemon coreutils;
              inherit runtimeDir logDir tmpDir forceDisableUserChange;
              nixprocSysvinit = withTools.nixproc-sysvinit;
              initFunctions = import ./nix/init-functions.nix {
                basePackages = with pkgs; [ coreutils gnused inetutils gnugrep sysvinit ];
                inherit (pkgs) stdenv daemon;
                inherit runtimeDir;
              };
              createCredentials = import ./nix/create-credentials.nix {
                inherit (pkgs) stdenv coreutils;
                nixprocSysvinit = withTools.nixproc-sysvinit;
              };
            });

        # Builds a profile from a processes model with a nixpkgs package set; the same
        # arguments as nix/build-profile.nix.
        buildProfile = args: import ./nix/build-profile.nix args;
      };
    };
}
