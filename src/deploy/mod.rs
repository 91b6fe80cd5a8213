//! Deployment: reading profiles, planning and executing switches.
