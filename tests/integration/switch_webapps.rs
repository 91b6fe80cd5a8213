//! The example deployment end to end: `nix-build` of examples/webapps through the switch
//! tool, HTTP through nginx to the webapp instances, upgrade, rollback, generations,
//! accounts and undeploy.

use crate::common;

use common::account_exists;
use common::{assert_succeeded, free_ports, ModelDeployment};

use std::io::{Read, Write};
use std::net::TcpStream;

fn http_get(port: u16) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .ok()?;
    s.write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

#[test]
fn webapps_deploy_upgrade_rollback_undeploy() {
    let nginx_port = common::free_port();
    let base = free_ports(4);
    let users_before: Vec<bool> = (1..=4)
        .map(|i| account_exists("passwd", &format!("webapp{i}")))
        .collect();
    let extra = format!(r#"{{"nginxPort":{nginx_port},"webappBasePort":{base}}}"#);
    let d = ModelDeployment::new("webapps", &["--extra-params", &extra]);
    let model = common::webapps_example();
    let upgrade = common::repo_root().join("examples/webapps/processes-upgrade.nix");

    // Deploy: nginx answers with a webapp instance's page.
    assert_succeeded(&d.switch(&[model.to_str().unwrap()]));
    let status = assert_succeeded(&d.runactivity(&["status"]));
    for n in ["webapp1", "webapp2", "nginx"] {
        assert!(status.contains(&format!("{n} is running")), "{status}");
    }
    let page = http_get(nginx_port).expect("nginx answers");
    assert!(page.contains("instance=webapp"), "{page}");
    assert!(account_exists("passwd", "webapp1") && account_exists("group", "webapp2"));
    let w1 = d.pid("webapp1").expect("webapp1 PID");

    // Upgrade: two more instances, nginx restarted, the first two untouched.
    let out = assert_succeeded(&d.switch(&[upgrade.to_str().unwrap()]));
    assert!(out.contains("2 started, 1 restarted, 2 unchanged"), "{out}");
    assert_eq!(
        d.pid("webapp1"),
        Some(w1),
        "webapp1 restarted by the upgrade"
    );
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..12 {
        let page = http_get(nginx_port).expect("nginx answers after the upgrade");
        if let Some(i) = page.find("instance=") {
            seen.insert(page[i..].split_whitespace().next().unwrap().to_string());
        }
    }
    assert!(seen.contains("instance=webapp4"), "{seen:?}");

    // Rollback: back to two instances.
    assert_succeeded(&d.switch(&["--rollback"]));
    assert!(d.pid("webapp3").is_none() && d.pid("webapp4").is_none());
    assert_eq!(d.pid("webapp1"), Some(w1));
    assert!(http_get(nginx_port)
        .expect("nginx after rollback")
        .contains("instance=webapp"));
    if !users_before[2] {
        assert!(
            !account_exists("passwd", "webapp3"),
            "webapp3's user outlived its process"
        );
    }
    let out = d.switch(&["--list-generations"]);
    assert_succeeded(&out);
    let gens = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        gens.lines().filter(|l| !l.trim().is_empty()).count(),
        2,
        "{gens}"
    );

    // Undeploy: nothing answers, our accounts are gone.
    assert_succeeded(&d.switch(&["--undeploy"]));
    assert!(http_get(nginx_port).is_none(), "nginx still answers");
    assert!(d.pid("webapp1").is_none());
    for (i, before) in users_before.iter().enumerate() {
        if !before {
            assert!(
                !account_exists("passwd", &format!("webapp{}", i + 1)),
                "webapp{} kept",
                i + 1
            );
        }
    }
    let st = d.runactivity(&["--json", "status"]);
    let v: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap();
    assert_eq!(
        v.as_array().map(Vec::len),
        Some(0),
        "the empty profile has no processes"
    );

    assert_succeeded(&d.switch(&["--delete-all-generations"]));
    assert!(!d.dir.path().join("profiles/webapps").exists());
}
