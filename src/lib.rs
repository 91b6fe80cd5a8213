//! nixproc-sysvinit: process management with Nix through LSB sysvinit scripts.
//!
//! The pipeline: a process description (JSON, from Nix) is parsed and validated into a
//! [`spec::ProcessSpec`] by [`spec`]; [`render`] turns it into every file a deployment
//! needs (the init.d script, rc.d links, credential files and a manifest); [`deploy`]
//! reads a profile made of such trees, plans a switch between two profiles as a
//! dependency graph and carries it out as a transaction. [`tree`] is the format the two
//! share: the tree's layout, the manifest and the credential files.
//!
//! ```
//! use nixproc_sysvinit::render::render_value;
//!
//! let rendered = render_value(&serde_json::json!({
//!     "name": "web",
//!     "process": "/bin/web",
//!     "environment": { "GREETING": "it's $(not run)" },
//!     "runlevels": [3],
//! }))
//! .unwrap();
//! assert!(rendered.script.contains("\nPROGRAM=/bin/web\nPIDFILE=/var/run/web.pid\n"));
//! assert!(rendered.script.contains(r#"start_daemon -p "$PIDFILE" -s "$SERVICE" "$PROGRAM""#));
//! assert!(rendered.script.contains(r#"export GREETING="it's \$(not run)""#));
//! assert_eq!(rendered.links[3].path, "rc3.d/S00web");
//! assert_eq!(rendered.links[0].path, "rc0.d/K99web");
//! ```

pub mod deploy;
pub mod error;
pub mod graph;
pub mod ids;
pub mod protocol;
pub mod remote;
pub mod render;
pub mod shell;
pub mod spec;
pub mod supervise;
pub mod tools;
pub mod tree;

pub use error::SpecError;
