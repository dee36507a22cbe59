//! The worker's top-level modules must not import each other in a circle. The step decides
//! (`decision`, pure) and carries the decision out (`step`); what every part of it works with
//! (`context`: `StepContext`, `StepError`) depends on none of the parts that carry it out
//! (`failure`, `run_events`, `heartbeat`, `effect_failure`, `intake`), so each of those can
//! be read, and copied, on its own.

use std::path::Path;

#[test]
fn top_level_modules_form_no_circle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = sidefx_testkit::module_graph::assert_no_circle(&src, "the worker");
    for module in ["step", "decision", "context", "failure", "run_events"] {
        assert!(
            graph.contains_key(module),
            "module {module} not found in {}",
            src.display()
        );
    }
}

#[test]
fn the_decision_depends_on_nothing_of_the_step() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = sidefx_testkit::module_graph::module_graph(&src);
    let decision = graph.get("decision").cloned().unwrap_or_default();
    assert!(
        decision.is_empty(),
        "decision.rs is a pure function of the claim, the receipt and the time; it names {decision:?}"
    );
}
