//! The switch's `--assign-ids` on upstream's advanced example (six webapps behind two
//! nginx, tests/fixtures/upstream-webapps/processes-advanced.nix, which reads
//! `ids-advanced.nix`): the ids are assigned before the build and written where the model
//! reads them, and the example deploys as root with the accounts and ports it was given;
//! an instance added later keeps everyone else's ids, on file and on the machine; an
//! assignment that cannot be made stops the switch before anything stops.
//!
//! The resources are those of the example's idresources.nix with ranges the test chooses:
//! ports free here, uids and gids no account of the machine has.

use crate::common;
use crate::id_assign::{example_copy, nix_path, written_ids, Ids};

use std::fs;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::{assert_contains, assert_failed, assert_succeeded, http_get_host, TestDir};

const SWITCH: &str = env!("CARGO_BIN_EXE_nixproc-sysvinit-switch");

/// The example's instances with webapps 1 to `webapps` (each is a user and a group of
/// its name when user changes are on).
fn instances(webapps: u32) -> Vec<String> {
    let mut out = vec!["nginx".to_string(), "nginx2".to_string()];
    out.extend((1..=webapps).map(|n| format!("webapp{n}")));
    out
}

/// The ranges of the test's id resources.
struct Ranges {
    webapp_ports: RangeInclusive<u16>,
    nginx_ports: RangeInclusive<u16>,
    ids: RangeInclusive<u32>,
}

impl Ranges {
    /// Eight free ports for the webapps, two for the nginx instances, and a block of
    /// 100 uids and gids from 2000 up that no account has and no process runs with.
    fn choose() -> Ranges {
        let webapp = common::free_ports(8);
        let nginx = loop {
            let base = common::free_ports(2);
            if base + 1 < webapp || base > webapp + 7 {
                break base;
            }
        };
        let ids = free_id_block(100);
        Ranges {
            webapp_ports: webapp..=webapp + 7,
            nginx_ports: nginx..=nginx + 1,
            ids: ids..=ids + 99,
        }
    }

    /// idresources.nix with these ranges, the webapps' cut to its first `webapp_ports`.
    fn resources(&self, webapp_ports: u16) -> String {
        let (w, n, i) = (&self.webapp_ports, &self.nginx_ports, &self.ids);
        format!(
            "rec {{\n  webappPorts = {{ min = {}; max = {}; }};\n  \
             nginxPorts = {{ min = {}; max = {}; }};\n  \
             uids = {{ min = {}; max = {}; }};\n  gids = uids;\n}}\n",
            w.start(),
            w.start() + webapp_ports - 1,
            n.start(),
            n.end(),
            i.start(),
            i.end()
        )
    }
}

/// The lowest multiple of 100 from 2000 up starting `len` ids that no user or group has
/// and no process runs with (as its real, effective, saved or file-system id).
fn free_id_block(len: u32) -> u32 {
    let mut used = std::collections::BTreeSet::<u32>::new();
    for db in ["passwd", "group"] {
        let out = Command::new("getent").arg(db).output().unwrap();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if let Some(id) = line.split(':').nth(2).and_then(|f| f.parse::<u32>().ok()) {
                used.insert(id);
            }
        }
    }
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(status) = fs::read_to_string(entry.path().join("status")) else {
            continue;
        };
        for line in status.lines() {
            if line.starts_with("Uid:") || line.starts_with("Gid:") {
                used.extend(
                    line.split_whitespace()
                        .skip(1)
                        .filter_map(|v| v.parse::<u32>().ok()),
                );
            }
        }
    }
    (20..600)
        .map(|h| h * 100)
        .find(|base| used.range(*base..base + len).next().is_none())
        .expect("a free block of ids")
}

/// A deployment of the example copied to a test directory, switched from that directory
/// (so `--ids ids-advanced.nix` is the file the model reads); undeployed on drop.
struct Deployment {
    dir: TestDir,
    copy: PathBuf,
    /// Arguments every switch gets.
    args: Vec<&'static str>,
}

impl Deployment {
    fn new(prefix: &str, args: &[&'static str]) -> Deployment {
        let dir = TestDir::new(prefix);
        let copy = example_copy(&dir);
        Deployment {
            dir,
            copy,
            args: args.to_vec(),
        }
    }

    /// The switch, run in the copy, on this deployment's profile link, with the
    /// environment of the tests (`<nixpkgs>` the stand-in, this build's programs, the
    /// account registry of this run).
    fn command(&self) -> Command {
        let bin = PathBuf::from(SWITCH);
        let mut c = Command::new(&bin);
        c.current_dir(&self.copy)
            .arg("-p")
            .arg(self.dir.path().join("profiles/ids"))
            .env("NIX_PATH", nix_path())
            .env("NIXPROC_SYSVINIT_BIN", bin.parent().unwrap())
            .env("NIXPROC_SYSVINIT_WEBAPP", common::webapp_binary())
            .env("NIXPROC_NIX_DIR", common::repo_root().join("nix"))
            .env("NIXPROC_SYSVINIT_ACCOUNTS_DIR", common::shared_registry())
            .env("NIX_CONFIG", "substituters =")
            .env_remove("NIXPROC_PROCESSES")
            .env_remove("NIXPROC_FORCE_DISABLE_USER_CHANGE");
        c
    }

    /// The switch with its state directory, runlevel 3, the deployment's arguments and
    /// `args`.
    fn switch(&self, args: &[&str]) -> Output {
        self.command()
            .arg("--state-dir")
            .arg(self.dir.path().join("state"))
            .args(["--runlevel", "3"])
            .args(&self.args)
            .args(args)
            .output()
            .unwrap()
    }

    /// `--assign-ids --ids ids-advanced.nix` and `args`, then the model `model`.
    fn assign_and_switch(&self, args: &[&str], model: &str) -> Output {
        let mut all = vec!["--assign-ids", "--ids", "ids-advanced.nix"];
        all.extend(args);
        all.push(model);
        self.switch(&all)
    }

    /// The line the switch prints for the written ids file.
    fn wrote(&self, instances: usize) -> String {
        let file = fs::canonicalize(&self.copy)
            .unwrap()
            .join("ids-advanced.nix");
        format!("ids: wrote {} ({instances} instances)", file.display())
    }

    /// The PID of webapp `instance`, from the PID file it writes in tmpDir.
    fn webapp_pid(&self, instance: &str) -> Option<i32> {
        common::read_pid(&self.dir.path().join(format!("state/tmp/{instance}.pid")))
    }

    /// The target of the profile link.
    fn generation(&self) -> PathBuf {
        fs::read_link(self.dir.path().join("profiles/ids")).unwrap()
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        // Stop whatever is still deployed, pass or fail.
        let _ = self.switch(&["--undeploy"]);
    }
}

/// Writes the advanced model with webapp7 behind nginx2 next to it; returns its name.
fn with_webapp7(copy: &Path, misspelt: bool) -> String {
    let text = fs::read_to_string(copy.join("processes-advanced.nix")).unwrap();
    let mut changed = text
        .replace(
            "  webapp6 = webappInstance \"6\";\n",
            "  webapp6 = webappInstance \"6\";\n  webapp7 = webappInstance \"7\";\n",
        )
        .replace(
            "webapps = [ webapp5 webapp6 ];",
            "webapps = [ webapp5 webapp6 webapp7 ];",
        );
    if misspelt {
        changed = changed.replacen(
            "[ \"nginxPorts\" \"uids\" \"gids\" ]",
            "[ \"nginxPort\" \"uids\" \"gids\" ]",
            1,
        );
    }
    assert_ne!(changed, text, "the edit changed nothing");
    let name = if misspelt {
        "processes-misspelt.nix"
    } else {
        "processes-webapp7.nix"
    };
    fs::write(copy.join(name), changed).unwrap();
    name.to_string()
}

/// Checks that the nginx on `proxy` answers for webapp `n` with the page of the
/// webapp on its assigned port.
fn assert_serves(ids: &Ids, proxy: &str, n: u32) {
    let port = ids["nginxPorts"][proxy] as u16;
    let webapp_port = ids["webappPorts"][&format!("webapp{n}")];
    let host = format!("webapp{n}.local");
    let mut page = None;
    common::wait_until(Duration::from_secs(20), || {
        page = http_get_host(port, &host).filter(|p| p.contains("path=/"));
        page.is_some()
    });
    let page = page.unwrap_or_else(|| panic!("{host} through {proxy} on port {port}"));
    assert!(
        page.contains(&format!("webapp-{webapp_port}")),
        "{host} through {proxy}: {page}"
    );
}

/// Each instance of `names` holds an id of the resources it needs, in their ranges.
fn assert_in_ranges(ids: &Ids, r: &Ranges, names: &[String]) {
    for name in names {
        let port = if name.starts_with("nginx") {
            ("nginxPorts", &r.nginx_ports)
        } else {
            ("webappPorts", &r.webapp_ports)
        };
        let p = ids[port.0][name];
        assert!(port.1.contains(&(p as u16)), "{}.{name} = {p}", port.0);
        for resource in ["uids", "gids"] {
            let id = ids[resource][name];
            assert!(r.ids.contains(&(id as u32)), "{resource}.{name} = {id}");
        }
    }
}

/// Every account of `names` has the uid and (primary) gid `ids` gives it.
fn assert_accounts(ids: &Ids, names: &[String]) {
    for name in names {
        let wanted = (ids["uids"][name] as u32, ids["gids"][name] as u32);
        assert_eq!(common::ids_of(name), wanted, "the ids of account {name}");
    }
}

/// Checks that no account of `names` exists, and removes them at the end of the test
/// whatever happens.
fn fresh_accounts(names: &[String]) -> common::AccountsGuard {
    for name in names {
        for db in ["passwd", "group"] {
            assert!(
                !common::account_exists(db, name),
                "{db} {name} exists on this machine; this test makes and deletes it"
            );
        }
    }
    common::AccountsGuard(
        names
            .iter()
            .flat_map(|n| [("passwd", n.clone()), ("group", n.clone())])
            .collect(),
    )
}

/// Each nginx answers for each of its webapps (webapp1..4 behind nginx, the others
/// behind nginx2), for webapps 1 to `webapps`.
fn assert_proxied(ids: &Ids, webapps: u32) {
    for n in 1..=webapps {
        assert_serves(ids, if n <= 4 { "nginx" } else { "nginx2" }, n);
    }
}

/// The PIDs of webapps 1 to `webapps`, every one of which must have its PID file.
fn webapp_pids(d: &Deployment, webapps: u32) -> Vec<i32> {
    let pids: Vec<i32> = (1..=webapps)
        .filter_map(|n| d.webapp_pid(&format!("webapp{n}")))
        .collect();
    assert_eq!(
        pids.len(),
        webapps as usize,
        "every webapp wrote its PID file"
    );
    pids
}

/// The first deployment of the advanced model: ids from idresources.nix next to the
/// model, the lowest free in instance-name order, given to the accounts and ports.
fn deploy_advanced(d: &Deployment, r: &Ranges) -> Ids {
    let out = assert_succeeded(&d.assign_and_switch(&[], "processes-advanced.nix"));
    assert_contains(&out, &d.wrote(8));
    let ids = written_ids(&d.copy);
    let first = instances(6);
    assert_in_ranges(&ids, r, &first);
    let base = i64::from(*r.ids.start());
    assert_eq!(ids["uids"]["nginx"], base);
    assert_eq!(ids["gids"]["webapp6"], base + 7);
    let port = i64::from(*r.webapp_ports.start());
    assert_eq!(ids["webappPorts"]["webapp1"], port);
    assert_accounts(&ids, &first);
    assert_proxied(&ids, 6);
    let pid = d.webapp_pid("webapp1").expect("webapp1's PID file");
    assert_eq!(common::uid_of(pid), Some(ids["uids"]["webapp1"] as u32));
    ids
}

/// webapp7 behind nginx2: everyone keeps the ids of `ids`, on file and on the machine;
/// webapp7 gets the lowest free. Returns the new ids.
fn add_webapp7(d: &Deployment, r: &Ranges, ids: &Ids) -> Ids {
    let model = with_webapp7(&d.copy, false);
    let out = assert_succeeded(&d.assign_and_switch(&[], &model));
    assert_contains(&out, &d.wrote(9));
    let after = written_ids(&d.copy);
    for (resource, held) in ids {
        for (instance, id) in held {
            let now = after[resource].get(instance);
            assert_eq!(now, Some(id), "{resource}.{instance}");
        }
    }
    let base = i64::from(*r.ids.start());
    assert_eq!(after["uids"]["webapp7"], base + 8);
    assert_eq!(after["gids"]["webapp7"], base + 8);
    let port = i64::from(*r.webapp_ports.start());
    assert_eq!(after["webappPorts"]["webapp7"], port + 6);
    assert_accounts(&after, &instances(7));
    assert_proxied(&after, 7);
    // Nothing to assign: no line, and the file stays as it is.
    let text = fs::read(d.copy.join("ids-advanced.nix")).unwrap();
    let out = assert_succeeded(&d.assign_and_switch(&[], &model));
    assert!(!out.contains("ids: "), "{out}");
    assert_eq!(fs::read(d.copy.join("ids-advanced.nix")).unwrap(), text);
    after
}

/// Undeploys `d`: no port of `ids` answers, no process of `pids` runs, and no account
/// of `names` is left.
fn undeploy(d: &Deployment, ids: &Ids, pids: &[i32], names: &[String]) {
    assert_succeeded(&d.switch(&["--undeploy"]));
    for port in ids["webappPorts"]
        .values()
        .chain(ids["nginxPorts"].values())
    {
        assert!(
            common::port_closed(*port as u16),
            "port {port} still answers"
        );
    }
    let gone = || !pids.iter().any(|p| common::pid_alive(*p));
    assert!(
        common::wait_until(Duration::from_secs(10), gone),
        "a webapp outlived the undeploy"
    );
    for name in names {
        assert!(!common::account_exists("passwd", name), "user {name} left");
        assert!(!common::account_exists("group", name), "group {name} left");
    }
}

#[test]
fn the_advanced_example_deploys_as_root_with_the_ids_assigned_and_keeps_them() {
    let _names = common::AccountNamesLock::take("upstream-webapps");
    let names = instances(7);
    let _accounts = fresh_accounts(&names);
    let r = Ranges::choose();
    let d = Deployment::new("nixproc-assign-ids", &[]);
    fs::write(d.copy.join("idresources.nix"), r.resources(8)).unwrap();
    let ids = deploy_advanced(&d, &r);
    let after = add_webapp7(&d, &r, &ids);
    let pids = webapp_pids(&d, 7);
    undeploy(&d, &after, &pids, &names);
}

/// Checks that the failed switch whose standard error is `err` built nothing and
/// stopped nothing: the profile is still `generation`, the ids file still `text`, the
/// webapps `pids` still run and nginx2 still serves webapp6.
fn assert_untouched(d: &Deployment, err: &str, before: &(PathBuf, Vec<u8>, Vec<i32>), ids: &Ids) {
    let (generation, text, pids) = before;
    assert!(
        !err.contains("package set") && !err.contains("stop"),
        "{err}"
    );
    assert_eq!(&d.generation(), generation);
    assert_eq!(&fs::read(d.copy.join("ids-advanced.nix")).unwrap(), text);
    assert!(
        pids.iter().all(|p| common::pid_alive(*p)),
        "a webapp stopped"
    );
    assert_serves(ids, "nginx2", 6);
}

#[test]
fn an_assignment_that_cannot_be_made_stops_the_switch_before_anything_stops() {
    let r = Ranges::choose();
    let d = Deployment::new("nixproc-assign-ids-fail", &["--force-disable-user-change"]);
    fs::write(d.copy.join("idresources.nix"), r.resources(8)).unwrap();
    assert_succeeded(&d.assign_and_switch(&[], "processes-advanced.nix"));
    let ids = written_ids(&d.copy);
    let file = d.copy.join("ids-advanced.nix");
    let before = (d.generation(), fs::read(&file).unwrap(), webapp_pids(&d, 6));

    // Seven webapps, six webapp ports.
    fs::write(d.copy.join("idresources-small.nix"), r.resources(6)).unwrap();
    let model = with_webapp7(&d.copy, false);
    let small = ["--id-resources", "idresources-small.nix"];
    let err = assert_failed(&d.assign_and_switch(&small, &model));
    let start = r.webapp_ports.start();
    let end = start + 5;
    let wanted =
        format!("resource 'webappPorts' ({start}..{end}) holds 6 ids, but 7 instances need one");
    assert_contains(&err, &wanted);
    assert_untouched(&d, &err, &before, &ids);

    // A resource the id resources do not define.
    let misspelt = with_webapp7(&d.copy, true);
    let err = assert_failed(&d.assign_and_switch(&[], &misspelt));
    assert_contains(
        &err,
        "instance 'nginx' requires ids of the resource 'nginxPort', which the id resources do not define (did you mean 'nginxPorts'?)",
    );
    assert_untouched(&d, &err, &before, &ids);

    // A dry run says what it would write and leaves the file as it is.
    let out = assert_succeeded(&d.assign_and_switch(&["--dry-run"], &model));
    let shown = fs::canonicalize(&file).unwrap().display().to_string();
    let wanted = format!("ids: {shown} would change (9 instances); left as it is (--dry-run)");
    assert_contains(&out, &wanted);
    assert_eq!(fs::read(&file).unwrap(), before.1);
    undeploy(&d, &ids, &before.2, &[]);
}

/// `--hosts`: the models of the fleet sharing one ids file are assigned together (the
/// union of their instances) on this machine before any host is reached; an assignment
/// that cannot be made reaches no host. `--target-host`: the model given, likewise.
#[test]
fn a_fleet_assigns_the_models_sharing_an_ids_file_together_before_any_host() {
    let r = Ranges::choose();
    let d = Deployment::new("nixproc-assign-ids-fleet", &[]);
    fs::write(d.copy.join("idresources.nix"), r.resources(8)).unwrap();
    fs::write(d.copy.join("idresources-small.nix"), r.resources(6)).unwrap();
    let model = with_webapp7(&d.copy, false);
    // Nothing answers on port 1 here: the hosts fail once the ids are written.
    fs::write(
        d.copy.join("hosts.nix"),
        format!(
            "{{\n  a = {{ targetHost = \"root@127.0.0.1\"; processes = ./processes-advanced.nix; }};\n  \
             b = {{ targetHost = \"root@127.0.0.1\"; processes = ./{model}; }};\n}}\n"
        ),
    )
    .unwrap();
    let remote = |args: &[&str]| {
        let mut c = d.command();
        c.arg("--assign-ids").args(args);
        c.env("NIX_SSHOPTS", "-p 1 -o ConnectTimeout=5");
        c.output().unwrap()
    };
    let fleet = ["--hosts", "hosts.nix", "--ids", "ids-advanced.nix"];

    let err = assert_failed(&remote(
        &[&fleet[..], &["--id-resources", "idresources-small.nix"]].concat(),
    ));
    assert_contains(&err, "resource 'webappPorts' (");
    assert!(
        !err.contains("cannot be reached"),
        "a host was tried: {err}"
    );
    assert!(!d.copy.join("ids-advanced.nix").exists());

    let err = assert_failed(&remote(&fleet));
    assert_contains(&err, &d.wrote(9));
    assert_contains(&err, "cannot be reached");
    let ids = written_ids(&d.copy);
    assert_in_ranges(&ids, &r, &instances(7));
    assert_eq!(ids["webappPorts"].len(), 7, "{ids:?}");

    let target = ["--target-host", "root@127.0.0.1", "--ids", "ids-target.nix"];
    let err = assert_failed(&remote(
        &[&target[..], &["processes-advanced.nix"]].concat(),
    ));
    let file = fs::canonicalize(&d.copy).unwrap().join("ids-target.nix");
    assert_contains(
        &err,
        &format!("ids: wrote {} (8 instances)", file.display()),
    );
    assert_contains(&err, "cannot be reached");
}
