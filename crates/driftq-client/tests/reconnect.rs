//! A consumer outlives its broker: after a shutdown and a restart on the
//! same address and WAL it keeps delivering without being reopened.

mod common;

use common::{TestBroker, next_message, produce_retrying};
use driftq_client::{ConsumeRequest, ProduceRequest};
use driftq_local::BrokerConfig;

#[tokio::test]
async fn consumer_survives_broker_restart() {
    let t = TestBroker::start().await;
    let addr = t.broker.local_addr();
    t.client.create_topic("jobs", 1).await.expect("create");
    t.client
        .produce(&ProduceRequest::new("jobs", "before"))
        .await
        .expect("produce");
    let request = ConsumeRequest::new("jobs", "workers", "w1");
    let mut consumer = t.client.consume(request.clone());
    let before = next_message(&mut consumer).await;
    assert_eq!(before.value, "before");
    t.client
        .ack(&request.ack_target(&before))
        .await
        .expect("ack");

    // Shutdown ends the open stream; the consumer starts reconnecting.
    let wal = t.wal();
    t.broker.shutdown().await;
    let mut config = BrokerConfig::ephemeral(wal);
    config.addr = addr.to_string();
    let restarted = driftq_local::spawn(config)
        .await
        .expect("broker restarts on the same address");
    assert_eq!(restarted.local_addr(), addr);

    // The topic survived (it holds a message); the committed offset too.
    produce_retrying(&t.client, &ProduceRequest::new("jobs", "after")).await;
    let after = next_message(&mut consumer).await;
    assert_eq!((after.offset, after.value.as_str()), (1, "after"));
    t.client
        .ack(&request.ack_target(&after))
        .await
        .expect("ack after restart");
    restarted.shutdown().await;
}
