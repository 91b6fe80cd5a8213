//! Rendering speed: one spec, and 10,000 specs (the size of a large processes model).
//! Target: at most 20 µs per spec on a 2-core machine.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use nixproc_sysvinit::render::render_json;
use serde_json::json;

/// A realistic spec: a foreground webapp instance with a user, credentials, environment,
/// a dependency and a readiness check.
fn spec(i: usize) -> String {
    json!({
        "instanceName": format!("webapp{i}"),
        "description": format!("Webapp instance {i}"),
        "process": "/nix/store/7x1y2z3a4b5c6d7e8f9g0h1j2k3l4m5n-webapp/bin/webapp",
        "processIsDaemon": false,
        "runlevels": [3, 4, 5],
        "environment": {"PORT": 5000 + i, "GREETING": "it's $(fine)"},
        "dependencies": [{"name": "database", "sequence": 3}],
        "user": format!("webapp{i}"),
        "credentials": {
            "groups": {format!("webapp{i}"): {}},
            "users": {format!("webapp{i}"): {"group": format!("webapp{i}"), "description": "Webapp"}}
        },
        "readiness": {"tcpPort": 5000 + i},
        "config": {
            "initialInstructions": ". /nix/store/3kq8zvx2k1pcn0vxhdjs6j7w2m9r4a1b-init-functions/etc/init-functions",
            "startProcessAsDaemon": "/nix/store/0c7y2l5w3v8h1n6q4r9x2k5m8p1d3f6g-daemon-0.8/bin/daemon"
        }
    })
    .to_string()
}

fn bench(c: &mut Criterion) {
    let one = spec(1);
    c.bench_function("render one spec (JSON in, JSON out)", |b| {
        b.iter(|| render_json(std::hint::black_box(&one)).unwrap())
    });

    let many: Vec<String> = (0..10_000).map(spec).collect();
    let mut group = c.benchmark_group("render 10,000 specs");
    group.throughput(Throughput::Elements(many.len() as u64));
    group.sample_size(10);
    group.bench_function("all", |b| {
        b.iter_batched(
            || (),
            |_| {
                for s in &many {
                    std::hint::black_box(render_json(s).unwrap());
                }
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
