//! Inputs found by the fuzz targets (`fuzz/`), kept as plain tests so the regular suite holds
//! them: each asserts the typed error or the bounded result the fixed code gives.

use rocketwire_core::body::{TopicRouteData, ROUTE_QUEUES_LIMIT};

/// `route_json`: a route of many queue datas, each claiming the most queues a count may
/// have, once expanded to billions of queues in its views.
#[test]
fn route_views_stay_bounded_over_many_queue_datas() {
    let queue_datas: Vec<String> = (0..64)
        .map(|i| {
            format!(
                r#"{{"brokerName":"b{i}","readQueueNums":2147483647,"writeQueueNums":2147483647,"perm":6,"topicSysFlag":0}}"#
            )
        })
        .collect();
    let broker_datas: Vec<String> = (0..64)
        .map(|i| {
            format!(
                r#"{{"cluster":"c","brokerName":"b{i}","brokerAddrs":{{"0":"127.0.0.1:{i}"}}}}"#
            )
        })
        .collect();
    let body = format!(
        r#"{{"queueDatas":[{}],"brokerDatas":[{}]}}"#,
        queue_datas.join(","),
        broker_datas.join(",")
    );
    let route = TopicRouteData::decode(body.as_bytes()).expect("a well-formed route");
    assert_eq!(route.queue_datas.len(), 64);
    assert_eq!(route.publish_queues("T").len(), ROUTE_QUEUES_LIMIT);
    assert_eq!(route.subscribe_queues("T").len(), ROUTE_QUEUES_LIMIT);
}
