//! The real-cluster suite, run on every adapter. Needs a running cluster: `cargo xtask test`
//! starts one and runs this with `--include-ignored`.

use rocketwire_tests::{adapter_suite, scenarios};

adapter_suite!(scenarios:
    route_for_auto_created_topic,
    send_and_pull_one_message,
    send_and_pull_batch,
    rejected_request_is_typed,
    closed_connection_fails_pending_requests,
    producer_send_modes,
    produced_message_id_carries_the_detected_ip,
    producer_batch,
    producer_ordered_by_key,
    producer_delay_level,
    producer_timer_delivery,
    producer_compression_round_trip,
    consume_concurrently,
    consume_tag_expression,
    metrics_of_sends_and_consumption,
    client_events_tell_connections_and_routes,
    admin_topics_offsets_and_queries,
    admin_group_stats_connections_and_running_info,
    consumer_group_rebalance,
    a_shared_client_id_is_reported,
    dropped_consumer_hands_over_its_queues,
    client_shutdown_closes_its_consumers_first,
    consume_orderly,
    consume_retry_send_back,
    consume_handler_panic_is_retried,
    consume_broadcasting_offsets_survive_restart,
    consume_broadcasting_corrupt_file_fails,
    consume_from_timestamp,
    consume_subscribe_and_unsubscribe_while_running,
    transactional_producer,
    lite_pull_with_seek_and_commit,
    lite_pull_subscribe_more_and_unsubscribe,
);
