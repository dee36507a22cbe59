//! The state file: round trips, its JSON shape, old files, and corrupt ones.

use super::*;

fn sample() -> StackState {
    StackState {
        mode: Mode::Local,
        api_url: "http://127.0.0.1:8000".into(),
        driftq_url: "http://127.0.0.1:8080".into(),
        api_port: 8000,
        driftq_port: 8080,
        effect: EffectMode::Ticket,
        provider: None,
        compose_file: None,
        local: Some(LocalProcesses {
            binaries: Binaries {
                driftq: "/bin/driftq-local".into(),
                api: "/bin/sidefx-api".into(),
                worker: "/bin/sidefx-worker".into(),
                provider: None,
            },
            supervisor: Some(ProcessRecord {
                pid: 10,
                program: "/bin/sidefx".into(),
            }),
            driftq: None,
            api: None,
            provider: None,
            worker: Some(ProcessRecord {
                pid: 12,
                program: "/bin/sidefx-worker".into(),
            }),
            worker_restarts: 2,
            workers: 1,
            more_workers: Vec::new(),
            restart: RestartPolicy::Workers,
            workers_paused: false,
            exits: Default::default(),
        }),
    }
}

#[test]
fn round_trips_through_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = DataDir::new(&tmp.path().join("nested")).unwrap();
    assert_eq!(StackState::load(&dir).unwrap(), None);
    let state = sample();
    state.save(&dir).unwrap();
    assert_eq!(StackState::load(&dir).unwrap(), Some(state));
    // No temp file is left behind.
    let names: Vec<_> = std::fs::read_dir(dir.root())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("state.json")]);
    StackState::remove(&dir).unwrap();
    StackState::remove(&dir).unwrap();
    assert_eq!(StackState::load(&dir).unwrap(), None);
}

#[test]
fn mode_is_lowercase_and_docker_state_has_no_processes() {
    let state = StackState {
        mode: Mode::Docker,
        local: None,
        compose_file: Some("/p/docker-compose.yml".into()),
        ..sample()
    };
    let json = serde_json::to_value(&state).unwrap();
    assert_eq!(json["mode"], "docker");
    assert!(json.get("local").is_none());
}

#[test]
fn a_ticket_stack_has_no_provider_and_an_old_file_reads_as_one() {
    let state = sample();
    assert!(!state.services().contains(&Service::Provider));
    let json = serde_json::to_value(&state).unwrap();
    assert!(json.get("provider").is_none() && json["local"].get("provider").is_none());
    let mut old = json;
    old.as_object_mut().unwrap().remove("effect");
    let read: StackState = serde_json::from_value(old).unwrap();
    assert_eq!(read.effect, EffectMode::Ticket);
    let provider = StackState {
        effect: EffectMode::Provider,
        provider: Some(ProviderSetup {
            url: "http://127.0.0.1:8090".into(),
            port: 8090,
            faults: Default::default(),
        }),
        ..sample()
    };
    assert_eq!(
        provider.services(),
        [
            Service::Driftq,
            Service::Provider,
            Service::Api,
            Service::Worker
        ]
    );
}

#[test]
fn a_corrupt_file_is_reported_with_its_path() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = DataDir::new(tmp.path()).unwrap();
    std::fs::write(dir.state_file(), "{not json").unwrap();
    let err = StackState::load(&dir).unwrap_err();
    assert!(format!("{err:#}").contains("state.json"), "{err:#}");
}
