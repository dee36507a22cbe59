//! docker-compose.yml, the Dockerfile and .env.example checked without a Docker engine: the
//! services, ports, volumes, environment and restart policies the demos depend on, and every
//! variable .env.example documents for a service reaching that service's container.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Compose {
    services: BTreeMap<String, Service>,
    volumes: BTreeMap<String, Option<serde_norway::Value>>,
}

#[derive(Debug, Deserialize)]
struct Service {
    image: Option<String>,
    build: Option<Build>,
    #[serde(default)]
    ports: Vec<String>,
    #[serde(default)]
    volumes: Vec<String>,
    #[serde(default)]
    environment: BTreeMap<String, String>,
    #[serde(default)]
    depends_on: Vec<String>,
    restart: Option<String>,
    healthcheck: Option<serde_norway::Value>,
    working_dir: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Build {
    context: String,
    target: String,
}

fn project_file(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn compose() -> Compose {
    serde_norway::from_str(&project_file("docker-compose.yml")).expect("docker-compose.yml parses")
}

#[test]
fn has_the_four_services_and_three_volumes() {
    let compose = compose();
    assert_eq!(
        compose.services.keys().collect::<Vec<_>>(),
        ["api", "driftq", "provider", "worker"]
    );
    assert_eq!(
        compose.volumes.keys().collect::<Vec<_>>(),
        ["driftq_wal", "provider_data", "sidefx_data"]
    );
}

#[test]
fn driftq_is_the_real_broker_image_with_a_durable_wal() {
    let compose = compose();
    let driftq = &compose.services["driftq"];
    let image = driftq.image.as_deref().unwrap();
    assert!(
        image.starts_with("${DRIFTQ_IMAGE:-ghcr.io/driftq-org/driftq-core:"),
        "{image}"
    );
    assert_eq!(
        driftq.ports,
        ["${SIDEFX_PUBLISH_ADDR:-127.0.0.1}:${SIDEFX_DRIFTQ_PORT:-8080}:8080"],
        "published on loopback unless opened"
    );
    assert_eq!(driftq.volumes, ["driftq_wal:/data"]);
    // The broker writes `driftq.wal` in its working directory: that must be the volume.
    assert_eq!(driftq.working_dir.as_deref(), Some("/data"));
}

#[test]
fn the_broker_image_is_pinned_unless_asked_for_latest() {
    let compose = compose();
    let image = compose.services["driftq"].image.clone().unwrap();
    let tag = image
        .strip_prefix("${DRIFTQ_IMAGE:-ghcr.io/driftq-org/driftq-core:${DRIFTQ_TAG:-")
        .and_then(|rest| rest.strip_suffix("}}"))
        .unwrap_or_else(|| panic!("{image}"));
    assert!(!tag.is_empty() && tag != "latest", "{image}");
    let example = project_file(".env.example");
    assert!(
        example.contains(&format!("DRIFTQ_TAG={tag}")),
        ".env.example documents the default tag"
    );
}

#[test]
fn the_worker_has_a_healthcheck_on_its_metrics_listener() {
    let compose = compose();
    let worker = &compose.services["worker"];
    assert_eq!(worker.environment["WORKER_METRICS_ADDR"], "0.0.0.0:9100");
    let check = serde_norway::to_string(worker.healthcheck.as_ref().unwrap()).unwrap();
    assert!(
        check.contains("9100") && check.contains("/metrics"),
        "{check}"
    );
}

#[test]
fn api_and_worker_share_the_data_volume_and_reach_driftq_by_name() {
    let compose = compose();
    for name in ["api", "worker"] {
        let service = &compose.services[name];
        let build = service.build.as_ref().unwrap();
        assert_eq!((build.context.as_str(), build.target.as_str()), (".", name));
        assert_eq!(service.volumes, ["sidefx_data:/data"], "{name}");
        assert_eq!(service.depends_on[0], "driftq", "{name}");
        let env = &service.environment;
        assert_eq!(env["DRIFTQ_HTTP_URL"], "http://driftq:8080", "{name}");
        assert_eq!(env["SIDEFX_DB_PATH"], "/data/side_effects.sqlite", "{name}");
        assert_eq!(env["ARTIFACTS_DIR"], "/data/artifacts", "{name}");
        assert!(env.contains_key("LOG_LEVEL"), "{name}");
    }
}

#[test]
fn api_listens_on_8000_with_a_healthcheck() {
    let compose = compose();
    let api = &compose.services["api"];
    assert_eq!(
        api.ports,
        ["${SIDEFX_PUBLISH_ADDR:-127.0.0.1}:${SIDEFX_API_PORT:-8000}:8000"]
    );
    assert_eq!(api.environment["API_ADDR"], "0.0.0.0:8000");
    assert_eq!(
        api.environment["ALLOW_ORIGINS"],
        "${ALLOW_ORIGINS:-http://localhost:3000}"
    );
    let check = serde_norway::to_string(api.healthcheck.as_ref().unwrap()).unwrap();
    assert!(check.contains("/healthz"), "{check}");
}

#[test]
fn the_worker_is_restarted_after_a_crash() {
    let compose = compose();
    let worker = &compose.services["worker"];
    assert_eq!(worker.restart.as_deref(), Some("unless-stopped"));
    assert_eq!(
        worker.environment["WORKER_GROUP"],
        "${WORKER_GROUP:-sidefx-worker}"
    );
    assert!(worker.ports.is_empty(), "the worker serves nothing");
}

#[test]
fn the_worker_charges_the_provider_by_name_in_provider_mode() {
    let compose = compose();
    let worker = &compose.services["worker"];
    assert_eq!(worker.depends_on, ["driftq", "provider"]);
    let env = &worker.environment;
    assert_eq!(env["WORKER_EFFECT"], "${WORKER_EFFECT:-ticket}");
    assert_eq!(env["PROVIDER_URL"], "http://provider:8090");
    assert_eq!(env["PROVIDER_TIMEOUT_MS"], "${PROVIDER_TIMEOUT_MS:-3000}");
    let provider = &compose.services["provider"];
    let build = provider.build.as_ref().unwrap();
    assert_eq!(
        (build.context.as_str(), build.target.as_str()),
        (".", "provider")
    );
    assert_eq!(
        provider.ports,
        ["${SIDEFX_PUBLISH_ADDR:-127.0.0.1}:${SIDEFX_PROVIDER_PORT:-8090}:8090"]
    );
    assert_eq!(provider.volumes, ["provider_data:/data"]);
    assert_eq!(provider.environment["PROVIDER_ADDR"], "0.0.0.0:8090");
    assert_eq!(
        provider.environment["PROVIDER_DB_PATH"],
        "/data/provider.sqlite"
    );
    assert_eq!(provider.restart.as_deref(), Some("unless-stopped"));
    let check = serde_norway::to_string(provider.healthcheck.as_ref().unwrap()).unwrap();
    assert!(
        check.contains("8090") && check.contains("/healthz"),
        "{check}"
    );
}

/// The containers each section of .env.example is about.
fn containers_of(section: &str) -> &'static [&'static str] {
    match section {
        "sidefx-api" => &["api"],
        "sidefx-worker" => &["worker"],
        "sidefx-api and sidefx-worker" => &["api", "worker"],
        s if s.starts_with("sidefx-provider") => &["provider"],
        _ => &[],
    }
}

/// Variables whose default is being unset, which compose cannot express: a unique owner id
/// per process, a random seed. (compose sets `PROVIDER_URL` and `WORKER_METRICS_ADDR` itself.)
const UNSET_BY_DEFAULT: [&str; 2] = ["DRIFTQ_OWNER", "PROVIDER_SEED"];

#[test]
fn every_variable_documented_for_a_service_reaches_its_container() {
    let compose = compose();
    let mut section = "";
    let mut checked = 0;
    for line in project_file(".env.example").lines() {
        if let Some(name) = line
            .strip_prefix("# --- ")
            .and_then(|l| l.strip_suffix(" ---"))
        {
            section = name;
            continue;
        }
        // Commented-out variables too (`# API_ALLOWED_HOSTS=…` must reach the API), except
        // the few whose default is "unset" in a way compose cannot pass on.
        let Some((var, _)) = line.trim_start_matches("# ").split_once('=') else {
            continue;
        };
        if !var.chars().all(|c| c.is_ascii_uppercase() || c == '_')
            || UNSET_BY_DEFAULT.contains(&var)
        {
            continue;
        }
        for container in containers_of(section) {
            let env = &compose.services[*container].environment;
            assert!(
                env.contains_key(var),
                "{var} (.env.example, {section}) does not reach the {container} container"
            );
            checked += 1;
        }
    }
    assert!(
        checked >= 25,
        "only {checked} variables checked: sections renamed?"
    );
}

#[test]
fn every_build_target_is_a_dockerfile_stage() {
    let dockerfile = project_file("Dockerfile");
    let stages: Vec<&str> = dockerfile
        .lines()
        .filter(|l| l.starts_with("FROM "))
        .filter_map(|l| l.split_whitespace().nth(3))
        .collect();
    for target in compose()
        .services
        .values()
        .filter_map(|s| s.build.as_ref())
        .map(|b| &b.target)
    {
        assert!(
            stages.contains(&target.as_str()),
            "no stage {target} in {stages:?}"
        );
    }
    assert!(stages.contains(&"driftq-local"), "{stages:?}");
    assert!(
        dockerfile.contains("-p sidefx-provider"),
        "the build stage must build the provider binary"
    );
    assert!(
        dockerfile.contains("\nUSER sidefx"),
        "runtime must not run as root"
    );
}

#[test]
fn env_example_lists_every_variable_compose_reads() {
    let example = project_file(".env.example");
    let compose = project_file("docker-compose.yml");
    let listed: Vec<&str> = example
        .lines()
        .map(|l| l.trim_start_matches("# "))
        .filter_map(|l| l.split_once('=').map(|(k, _)| k))
        .filter(|k| k.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
        .collect();
    for var in compose
        .split("${")
        .skip(1)
        .filter_map(|rest| rest.split([':', '}']).next())
    {
        assert!(
            listed.contains(&var),
            "{var} is used in docker-compose.yml but missing from .env.example"
        );
    }
    for var in [
        "DRIFTQ_HTTP_URL",
        "SIDEFX_DB_PATH",
        "ARTIFACTS_DIR",
        "WORKER_GROUP",
        "LOG_LEVEL",
        "LOG_FORMAT",
        "ALLOW_ORIGINS",
        "DRIFTQ_OWNER",
        "DRIFTQ_IMAGE",
        "API_ADDR",
        "WORKER_LEASE_MS",
        "WORKER_CONCURRENCY",
        "WORKER_EFFECT",
        "PROVIDER_URL",
        "PROVIDER_TIMEOUT_MS",
        "PROVIDER_ADDR",
        "PROVIDER_DB_PATH",
        "PROVIDER_DROP_AFTER_COMMIT_RATE",
        "PROVIDER_FAIL_BEFORE_COMMIT_RATE",
        "PROVIDER_SLOW_RATE",
        "PROVIDER_SLOW_MS",
        "PROVIDER_RATE_LIMIT_RATE",
        "PROVIDER_SEED",
    ] {
        assert!(listed.contains(&var), "{var} missing from .env.example");
    }
}
