//! Topic route and cluster info bodies: both JSON dialects, derived views, errors.

use std::collections::BTreeMap;

use rocketwire_core::body::{
    BodyError, BrokerData, ClusterInfo, FindBrokerResult, MessageQueue, QueueData, TopicRouteData,
};

/// The route built in apache/rocketmq
/// `remoting/src/test/java/org/apache/rocketmq/remoting/protocol/route/TopicRouteDataTest.java`
/// (broker-a, TestCluster, ids 0 and 1 on 192.168.0.47, perm 6, 8 read / 8 write queues).
fn java_test_route() -> TopicRouteData {
    TopicRouteData {
        broker_datas: vec![BrokerData {
            broker_addrs: BTreeMap::from([
                (0, "192.168.0.47:10911".to_string()),
                (1, "192.168.0.47:10921".to_string()),
            ]),
            broker_name: "broker-a".to_string(),
            cluster: "TestCluster".to_string(),
            ..Default::default()
        }],
        queue_datas: vec![QueueData {
            broker_name: "broker-a".to_string(),
            perm: 6,
            read_queue_nums: 8,
            write_queue_nums: 8,
            topic_sys_flag: 0,
        }],
        ..Default::default()
    }
}

/// That route as fastjson writes it by default (unquoted `Map<Long,String>` keys).
const JAVA_TEST_ROUTE_LEGACY: &str = r#"{"brokerDatas":[{"brokerAddrs":{0:"192.168.0.47:10911",1:"192.168.0.47:10921"},"brokerName":"broker-a","cluster":"TestCluster"}],"filterServerTable":{},"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":8,"topicSysFlag":0,"writeQueueNums":8}]}"#;

/// The same with the namesrv's standard-JSON features (quoted, sorted map keys).
const JAVA_TEST_ROUTE_STANDARD: &str = r#"{"brokerDatas":[{"brokerAddrs":{"0":"192.168.0.47:10911","1":"192.168.0.47:10921"},"brokerName":"broker-a","cluster":"TestCluster","enableActingMaster":false}],"filterServerTable":{},"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":8,"topicSysFlag":0,"writeQueueNums":8}]}"#;

/// The same pretty-printed (`toJson(obj, true)`, tabs and newlines, still unquoted keys).
const JAVA_TEST_ROUTE_PRETTY: &str = "{\n\t\"brokerDatas\":[\n\t\t{\n\t\t\t\"brokerAddrs\":{0:\"192.168.0.47:10911\",1:\"192.168.0.47:10921\"\n\t\t\t},\n\t\t\t\"brokerName\":\"broker-a\",\n\t\t\t\"cluster\":\"TestCluster\"\n\t\t}\n\t],\n\t\"filterServerTable\":{},\n\t\"queueDatas\":[\n\t\t{\n\t\t\t\"brokerName\":\"broker-a\",\n\t\t\t\"perm\":6,\n\t\t\t\"readQueueNums\":8,\n\t\t\t\"topicSysFlag\":0,\n\t\t\t\"writeQueueNums\":8\n\t\t}\n\t]\n}";

#[test]
fn java_route_all_dialects() {
    let expected = java_test_route();
    for body in [
        JAVA_TEST_ROUTE_LEGACY,
        JAVA_TEST_ROUTE_STANDARD,
        JAVA_TEST_ROUTE_PRETTY,
    ] {
        let route = TopicRouteData::decode(body.as_bytes()).unwrap();
        assert_eq!(route, expected, "{body}");
    }
}

#[test]
fn legacy_topic_syn_flag_order_conf_and_unknown_members() {
    // Pre-4.9 namesrvs (and Go) spell the flag `topicSynFlag` (protocol facts §5.2).
    let body = br#"{"brokerDatas":[{"brokerAddrs":{0:"10.0.0.1:10911"},"brokerName":"b","cluster":"c","zoneName":"z1","somethingNew":{7:[1,2]}}],"filterServerTable":{"10.0.0.1:10911":["10.0.0.1:30000"]},"orderTopicConf":"b:2","queueDatas":[{"brokerName":"b","perm":6,"readQueueNums":4,"topicSynFlag":3,"writeQueueNums":4}],"extra":null}"#;
    let route = TopicRouteData::decode(body).unwrap();
    assert_eq!(route.queue_datas[0].topic_sys_flag, 3);
    assert_eq!(route.order_topic_conf.as_deref(), Some("b:2"));
    assert_eq!(route.broker_datas[0].zone_name.as_deref(), Some("z1"));
    assert_eq!(
        route.filter_server_table.get("10.0.0.1:10911"),
        Some(&vec!["10.0.0.1:30000".to_string()])
    );
    assert_eq!(
        route.publish_queues("T"),
        vec![
            MessageQueue::new("T", "b", 0),
            MessageQueue::new("T", "b", 1)
        ]
    );
}

#[test]
fn negative_keys_static_mapping_and_nulls() {
    // TopicQueueMappingInfo's `currIdMap` is a Map<Integer,Integer> (unquoted, may be negative).
    let body = br#"{"brokerDatas":[{"brokerAddrs":{-1:"x:1",0:"y:2"},"brokerName":"b","cluster":"c","enableActingMaster":true}],"orderTopicConf":null,"queueDatas":null,"topicQueueMappingByBroker":{"b":{"bname":"b","currIdMap":{0:0,-1:2},"dirty":false,"epoch":1,"scope":"__global__","topic":"T","totalQueues":4}}}"#;
    let route = TopicRouteData::decode(body).unwrap();
    let b = &route.broker_datas[0];
    assert_eq!(b.broker_addrs.get(&-1).map(String::as_str), Some("x:1"));
    assert!(b.enable_acting_master);
    assert!(route.queue_datas.is_empty());
    assert_eq!(route.order_topic_conf, None);
    assert!(route.has_static_topic_mapping());
    let map = route.topic_queue_mapping_by_broker.as_ref().unwrap();
    assert_eq!(map["b"]["currIdMap"]["-1"], 2);
}

#[test]
fn encode_is_standard_json_and_round_trips() {
    let route = java_test_route();
    let bytes = route.encode();
    assert_eq!(
        std::str::from_utf8(&bytes).unwrap(),
        JAVA_TEST_ROUTE_STANDARD
    );
    let _: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(TopicRouteData::decode(&bytes).unwrap(), route);
}

#[test]
fn derived_views_of_java_route() {
    let route = java_test_route();
    assert_eq!(route.master_addr("broker-a"), Some("192.168.0.47:10911"));
    assert_eq!(route.master_addr("broker-b"), None);
    let publish = route.publish_queues("TopicTest");
    assert_eq!(publish.len(), 8);
    assert_eq!(publish[7], MessageQueue::new("TopicTest", "broker-a", 7));
    assert_eq!(route.subscribe_queues("TopicTest"), publish);
}

/// apache/rocketmq-client-go `internal/route_test.go` `TestFindBrokerAddressInSubscribe`.
#[test]
fn find_broker_address_in_subscribe_go_vectors() {
    let b = |name: &str, addrs: &[(i64, &str)]| BrokerData {
        broker_name: name.to_string(),
        cluster: "cluster".to_string(),
        broker_addrs: addrs.iter().map(|(k, v)| (*k, v.to_string())).collect(),
        ..Default::default()
    };
    let route = TopicRouteData {
        broker_datas: vec![
            b(
                "raft01",
                &[
                    (0, "127.0.0.1:10911"),
                    (1, "127.0.0.1:10912"),
                    (2, "127.0.0.1:10913"),
                ],
            ),
            b(
                "raft02",
                &[
                    (0, "127.0.0.1:10911"),
                    (2, "127.0.0.1:10912"),
                    (3, "127.0.0.1:10913"),
                ],
            ),
        ],
        ..Default::default()
    };
    let found = |addr: &str, slave| {
        Some(FindBrokerResult {
            broker_addr: addr.to_string(),
            slave,
        })
    };
    // Master.
    assert_eq!(
        route.find_broker_address_in_subscribe("raft01", 0, false),
        found("127.0.0.1:10911", false)
    );
    // Slave of a normal group.
    assert_eq!(
        route.find_broker_address_in_subscribe("raft01", 1, false),
        found("127.0.0.1:10912", true)
    );
    // Slave 1 missing: id + 1.
    assert_eq!(
        route.find_broker_address_in_subscribe("raft02", 1, false),
        found("127.0.0.1:10912", true)
    );
    // Unknown id: any address (the smallest id), unless only this broker.
    assert_eq!(
        route.find_broker_address_in_subscribe("raft01", 4, false),
        found("127.0.0.1:10911", false)
    );
    assert_eq!(
        route.find_broker_address_in_subscribe("raft01", 4, true),
        None
    );
    assert_eq!(
        route.find_broker_address_in_subscribe("nope", 0, false),
        None
    );
    assert_eq!(
        route.find_broker_address_in_subscribe("raft01", i64::MAX, true),
        None
    );
}

#[test]
fn route_change_ignores_list_order() {
    let body = br#"{"brokerDatas":[{"brokerAddrs":{0:"a:1"},"brokerName":"a","cluster":"c"},{"brokerAddrs":{0:"b:1"},"brokerName":"b","cluster":"c"}],"queueDatas":[{"brokerName":"a","perm":6,"readQueueNums":4,"writeQueueNums":4},{"brokerName":"b","perm":6,"readQueueNums":4,"writeQueueNums":4}]}"#;
    let old = TopicRouteData::decode(body).unwrap();
    let mut reordered = old.clone();
    reordered.broker_datas.reverse();
    reordered.queue_datas.reverse();
    assert_ne!(old, reordered);
    assert!(!old.differs_from(&reordered));
    assert!(!old.differs_from(&old));

    let mut perm_changed = reordered.clone();
    perm_changed.queue_datas[0].perm = 4;
    assert!(old.differs_from(&perm_changed));

    let mut ordered = old.clone();
    ordered.order_topic_conf = Some("a:4".to_string());
    assert!(old.differs_from(&ordered));

    let mut new_slave = old.clone();
    new_slave.broker_datas[1]
        .broker_addrs
        .insert(1, "b:2".to_string());
    assert!(old.differs_from(&new_slave));
}

#[test]
fn malformed_routes_are_typed_errors() {
    for body in [
        &b""[..],
        b"{",
        b"}",
        b"{\"brokerDatas\":[}",
        b"{\"queueDatas\":[{\"perm\":\"six\"}]}",
        b"{\"brokerDatas\":[{\"brokerAddrs\":{x:\"a\"}}]}",
        b"[1,2,3]",
        b"\xff\xfe",
        b"{\"brokerDatas\":[{\"brokerAddrs\":{{\"a\":1}:\"x\"}}]}",
    ] {
        match TopicRouteData::decode(body) {
            Err(BodyError::Malformed { what, .. }) => assert_eq!(what, "TopicRouteData"),
            other => panic!("{:?} decoded as {other:?}", String::from_utf8_lossy(body)),
        }
    }
}

#[test]
fn cluster_info_fastjson() {
    // GET_BROKER_CLUSTER_INFO as fastjson writes ClusterInfo (Map<String,BrokerData>,
    // Map<String,Set<String>>), brokerAddrs with unquoted keys.
    let body = br#"{"brokerAddrTable":{"broker-a":{"brokerAddrs":{0:"192.168.1.111:10911",1:"192.168.1.111:10921"},"brokerName":"broker-a","cluster":"DefaultCluster","enableActingMaster":false},"broker-b":{"brokerAddrs":{0:"192.168.1.112:10911"},"brokerName":"broker-b","cluster":"DefaultCluster"}},"clusterAddrTable":{"DefaultCluster":["broker-b","broker-a"]}}"#;
    let info = ClusterInfo::decode(body).unwrap();
    assert_eq!(info.broker_addr_table.len(), 2);
    assert_eq!(
        info.broker_addr_table["broker-a"].master_addr(),
        Some("192.168.1.111:10911")
    );
    assert_eq!(
        info.brokers_of_cluster("DefaultCluster"),
        ["broker-b", "broker-a"]
    );
    assert!(info.brokers_of_cluster("Other").is_empty());
    assert_eq!(ClusterInfo::decode(&info.encode()).unwrap(), info);
    assert!(matches!(
        ClusterInfo::decode(b"{\"clusterAddrTable\":7}"),
        Err(BodyError::Malformed {
            what: "ClusterInfo",
            ..
        })
    ));
}

/// Found by fuzzing: many queue datas each claiming 65,536 queues must not expand without
/// bound; the views stop at `ROUTE_QUEUES_LIMIT`.
#[test]
fn route_views_are_bounded() {
    let mut queue_datas = String::new();
    for i in 0..64 {
        if i > 0 {
            queue_datas.push(',');
        }
        queue_datas.push_str(&format!(
            r#"{{"brokerName":"b{i}","perm":6,"readQueueNums":65536,"writeQueueNums":65536,"topicSysFlag":0}}"#
        ));
    }
    let mut brokers = String::new();
    for i in 0..64 {
        if i > 0 {
            brokers.push(',');
        }
        brokers.push_str(&format!(
            r#"{{"brokerAddrs":{{"0":"127.0.0.1:{}"}},"brokerName":"b{i}","cluster":"c"}}"#,
            10000 + i
        ));
    }
    let json = format!(r#"{{"brokerDatas":[{brokers}],"queueDatas":[{queue_datas}]}}"#);
    let route = rocketwire_core::body::TopicRouteData::decode(json.as_bytes()).unwrap();
    let limit = rocketwire_core::body::ROUTE_QUEUES_LIMIT;
    assert_eq!(route.publish_queues("T").len(), limit);
    assert_eq!(route.subscribe_queues("T").len(), limit);
}
