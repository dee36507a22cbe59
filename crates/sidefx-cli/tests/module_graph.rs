//! The CLI's top-level modules must not import each other in a circle: `cli` lists the
//! commands and nothing imports it back, each command owns its flags, and the shared pieces
//! (`stack`, `api_client`, `ui`, …) never reach up into a command. The kit reads every
//! `crate::…` path in `src/` and fails with the circle it finds.

use std::path::Path;

#[test]
fn top_level_modules_form_no_circle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = sidefx_testkit::module_graph::assert_no_circle(&src, "the CLI");
    assert!(
        graph.len() > 5,
        "too few modules found in {}",
        src.display()
    );
}
