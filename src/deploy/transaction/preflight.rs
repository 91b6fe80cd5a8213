//! What a switch knows and checks before it changes anything: the old and new
//! profiles, the plan between them, the new one's secrets; and the plan alone, as
//! `--dry-run` and `--graph` show it.

use std::path::Path;

use super::plan::Plan;
use super::settings::Settings;
use crate::deploy::accounts;
use crate::deploy::profile::generations;
use crate::deploy::profile::Profile;
use crate::deploy::secrets;
use crate::deploy::{DeployError, Result};
use crate::tree::layout;

/// Refuses a profile that has init.d scripts but no start links for the runlevel:
/// deploying it would silently stop every process.
pub fn check_runlevel(path: &Path, profile: &Profile) -> Result<()> {
    if !profile.processes.is_empty() {
        return Ok(());
    }
    let scripts = std::fs::read_dir(path.join(layout::INIT_D_DIR))
        .map(|d| d.flatten().count())
        .unwrap_or(0);
    if scripts == 0 {
        return Ok(());
    }
    let with_links: Vec<String> = (0..=6u8)
        .filter(|r| {
            std::fs::read_dir(path.join(layout::runlevel_path(*r)))
                .map(|d| {
                    d.flatten().any(|e| {
                        e.file_name()
                            .to_string_lossy()
                            .starts_with(layout::START_LINK)
                    })
                })
                .unwrap_or(false)
        })
        .map(|r| r.to_string())
        .collect();
    let found = if with_links.is_empty() {
        "no runlevel has any".to_string()
    } else {
        format!("runlevel(s) {} have some", with_links.join(", "))
    };
    Err(DeployError::Profile {
        path: path.to_path_buf(),
        message: format!(
            "{scripts} init.d script(s) but no start links for runlevel {} ({found}); \
             deploying it would stop every process. Give --runlevel N for the runlevel its \
             links are for, or --undeploy to stop everything on purpose",
            profile.runlevel
        ),
    })
}

/// Reads a profile directory, or the empty profile for `None`.
pub fn read_profile(path: Option<&Path>, runlevel: u8) -> Result<Profile> {
    match path {
        Some(p) => Profile::read(p, runlevel),
        None => Ok(Profile::empty(runlevel)),
    }
}

/// The plan a switch from the deployed profile (or `old`) to `new` would carry out.
pub fn plan(settings: &Settings, old: Option<&Path>, new: &Path) -> Result<Plan> {
    Ok(planned(settings, old, new)?.plan)
}

/// The plan of [`plan`] as a Graphviz DOT graph (see [`Plan::to_dot`]).
pub fn plan_graph(settings: &Settings, old: Option<&Path>, new: &Path) -> Result<String> {
    let planned = planned(settings, old, new)?;
    Ok(planned.plan.to_dot(&planned.old, &planned.new))
}

/// What a switch knows before it changes anything.
pub(super) struct Planned {
    /// The profile deployed now (or the one given as old).
    pub(super) old: Profile,
    /// The profile switched to.
    pub(super) new: Profile,
    /// The steps between them.
    pub(super) plan: Plan,
    /// The secrets of `new`, with their contents.
    pub(super) secrets: Vec<secrets::Wanted>,
}

/// The old profile (`old`, else the deployed one), the new one, the plan between and
/// the new one's secrets. Every check that can fail a switch before it changes anything
/// is here: the runlevel, the users, the accounts, the secrets.
pub(super) fn planned(settings: &Settings, old: Option<&Path>, new: &Path) -> Result<Planned> {
    let current = generations::current(&settings.profile)?;
    let old = old.map(Path::to_path_buf).or(current);
    let old = read_profile(old.as_deref(), settings.runlevel)?;
    let new_profile = Profile::read(new, settings.runlevel)?;
    check_runlevel(new, &new_profile)?;
    new_profile.check_users(|user| accounts::exists("passwd", user))?;
    accounts::check(
        &new_profile,
        &settings.accounts(),
        settings.force_disable_user_change,
    )?;
    let wanted = secrets::gather(&new_profile, settings.secrets)?;
    secrets::check_accounts(&wanted, &new_profile)?;
    let restart = secrets::needing_restart(&wanted);
    let plan = Plan::diff_restarting(&old, &new_profile, &restart)?;
    Ok(Planned {
        old,
        new: new_profile,
        plan,
        secrets: wanted,
    })
}
