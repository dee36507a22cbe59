//! How publish errors classify; the produce paths are tested against a real broker in
//! `tests/publisher.rs`.

use std::time::Duration;

use super::*;

fn produce_error(source: driftq_client::Error) -> PublishError {
    PublishError::Produce {
        topic: "t".to_owned(),
        source,
    }
}

#[test]
fn backpressure_is_transient_and_recognisable() {
    let reason = "partition_buffer_full".to_owned();
    let err = produce_error(driftq_client::Error::Backpressure {
        reason,
        retry_after: Duration::from_secs(1),
    });
    assert!(err.is_backpressure());
    assert!(err.is_transient());
    assert!(err.to_string().starts_with("producing to t: "), "{err}");
}

#[test]
fn refusals_are_not_transient() {
    let message = "topic and value are required".to_owned();
    let err = produce_error(driftq_client::Error::InvalidArgument { message });
    assert!(!err.is_transient());
    assert!(!err.is_backpressure());
    assert!(err.driftq_error().is_some());

    let encode = PublishError::from(serde_json::from_str::<u8>("x").unwrap_err());
    assert!(encode.driftq_error().is_none());
    assert!(!encode.is_transient());
}
