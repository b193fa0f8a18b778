"""A Python producer and subscriber against rocketwire-gateway, as scripts written for the
original Go gateway use it (mq.RocketMQGateway), plus the acknowledged v1 stream.

Run by `cargo xtask test` with stubs generated from gateway/proto on PYTHONPATH:

    python gateway_check.py HOST:PORT TOPIC GROUP [METRICS_URL]

Exits 0 when every message sent was received (and acknowledged on the v1 stream), and when a
consumer process killed mid-stream left every message it had not acknowledged to the next.
Portable: plain grpcio, no Unix-only calls (the gateway's first users run Windows).
"""

import os
import queue
import subprocess
import sys
import threading
import time
import urllib.request

import grpc

import mq_pb2
import mq_pb2_grpc
from rocketwire.gateway.v1 import gateway_pb2 as v1
from rocketwire.gateway.v1 import gateway_pb2_grpc as v1_grpc

COUNT = 20
PATIENCE_S = 60


def fail(message):
    print(f"gateway_check: FAILED: {message}", flush=True)
    sys.exit(1)


def original_api(channel, topic, group):
    stub = mq_pb2_grpc.RocketMQGatewayStub(channel)
    sent = {}
    every = set()
    for i in range(COUNT):
        tags = "TagA" if i % 2 == 0 else "TagB"
        body = f"hello from python {i}".encode()
        response = stub.SendMessage(mq_pb2.SendRequest(topic=topic, body=body, tags=tags))
        if not response.success:
            fail(f"SendMessage {i}: {response.error}")
        every.add(response.msgId)
        if tags == "TagA":
            sent[response.msgId] = body
    print(f"gateway_check: SendMessage stored {COUNT} messages", flush=True)

    received = {}
    stream = stub.Subscribe(
        mq_pb2.SubscribeRequest(topic=topic, consumerGroup=group, tags="TagA || TagC"),
        timeout=PATIENCE_S,
    )
    try:
        for message in stream:
            if message.msgId not in sent:
                fail(f"Subscribe: a message not sent with TagA: {message}")
            if message.topic != topic or message.body != sent[message.msgId]:
                fail(f"Subscribe: wrong topic or body: {message}")
            received[message.msgId] = message.body
            if len(received) == len(sent):
                break
    except grpc.RpcError as e:
        fail(f"Subscribe ended with {e.code()}: {e.details()} after {len(received)}")
    finally:
        stream.cancel()
    print(f"gateway_check: Subscribe received all {len(received)} TagA messages", flush=True)
    return every


def v1_api(channel, topic, group):
    stub = v1_grpc.GatewayStub(channel)
    batch = stub.SendBatch(
        v1.SendBatchRequest(
            messages=[
                v1.Message(
                    topic=topic,
                    body=f"batch {i}".encode(),
                    tags="V1",
                    keys=[f"key-{i}"],
                    properties={"n": str(i)},
                )
                for i in range(COUNT)
            ]
        )
    )
    wanted = set(batch.msg_ids)
    if len(wanted) != COUNT:
        fail(f"SendBatch: {batch}")

    requests = queue.Queue()
    requests.put(
        v1.ConsumeRequest(
            subscribe=v1.Subscribe(topic=topic, consumer_group=group + "_v1", tags="V1", window=8)
        )
    )
    done = threading.Event()

    def outgoing():
        while not done.is_set():
            try:
                yield requests.get(timeout=0.1)
            except queue.Empty:
                continue

    got = set()
    responses = stub.Consume(outgoing(), timeout=PATIENCE_S)
    try:
        for response in responses:
            kind = response.WhichOneof("kind")
            if kind == "subscribed":
                continue
            message = response.delivery.message
            if message.msg_id not in wanted:
                fail(f"Consume: unexpected message {message}")
            if message.properties["n"] != message.keys[0].split("-")[1]:
                fail(f"Consume: keys and properties disagree: {message}")
            got.add(message.msg_id)
            requests.put(
                v1.ConsumeRequest(ack=v1.Ack(delivery_ids=[response.delivery.delivery_id]))
            )
            if got == wanted:
                break
    except grpc.RpcError as e:
        fail(f"Consume ended with {e.code()}: {e.details()} after {len(got)}")
    finally:
        time.sleep(0.3)  # the last acks leave before the stream is cancelled
        done.set()
        responses.cancel()
    print(f"gateway_check: Consume received and acknowledged all {len(got)}", flush=True)
    return wanted


class AckedStream:
    """A v1 Consume stream whose acks go out from a queue."""

    def __init__(self, channel, topic, group, window):
        self.requests = queue.Queue()
        self.requests.put(
            v1.ConsumeRequest(
                subscribe=v1.Subscribe(topic=topic, consumer_group=group, window=window)
            )
        )
        self.done = threading.Event()
        self.responses = v1_grpc.GatewayStub(channel).Consume(
            self._outgoing(), timeout=PATIENCE_S
        )

    def _outgoing(self):
        while not self.done.is_set():
            try:
                yield self.requests.get(timeout=0.1)
            except queue.Empty:
                continue

    def deliveries(self):
        for response in self.responses:
            if response.WhichOneof("kind") == "delivery":
                yield response.delivery

    def ack(self, delivery_ids):
        self.requests.put(v1.ConsumeRequest(ack=v1.Ack(delivery_ids=delivery_ids)))

    def close(self):
        time.sleep(0.3)  # the last acks leave first
        self.done.set()
        self.responses.cancel()


def crashing_consumer(target, topic, group):
    """Takes 8 deliveries, acknowledges 3, prints their ids, and dies without a goodbye."""
    channel = grpc.insecure_channel(target)
    stream = AckedStream(channel, topic, group, window=8)
    held = []
    for delivery in stream.deliveries():
        held.append(delivery)
        if len(held) == 8:
            break
    stream.ack([d.delivery_id for d in held[:3]])
    time.sleep(0.5)  # the acks reach the gateway
    print("ACKED " + ",".join(d.message.msg_id for d in held[:3]), flush=True)
    os._exit(9)  # a crash: no stream close, no channel close


def killed_mid_stream(channel, target, topic, group, wanted):
    crash_group = group + "_crash"
    child = subprocess.run(
        [sys.executable, __file__, "--crash", target, topic, crash_group],
        capture_output=True,
        text=True,
        timeout=PATIENCE_S,
    )
    acked_lines = [l for l in child.stdout.splitlines() if l.startswith("ACKED ")]
    if child.returncode != 9 or len(acked_lines) != 1:
        fail(f"the crashing consumer: exit {child.returncode}, {child.stdout!r} {child.stderr!r}")
    acked = set(acked_lines[0][len("ACKED "):].split(","))
    stream = AckedStream(channel, topic, crash_group, window=32)
    got = set()
    try:
        for delivery in stream.deliveries():
            msg_id = delivery.message.msg_id
            if msg_id in acked:
                fail(f"a message the dead consumer acknowledged came again: {msg_id}")
            got.add(msg_id)
            stream.ack([delivery.delivery_id])
            if got | acked == wanted:
                break
    except grpc.RpcError as e:
        fail(f"after the crash, Consume ended with {e.code()}: {e.details()} after {len(got)}")
    finally:
        stream.close()
    print(
        f"gateway_check: a consumer killed holding 5 unacknowledged lost nothing: "
        f"{len(acked)} acknowledged before, {len(got)} received after",
        flush=True,
    )


def scraped(url, topic, group):
    """The Prometheus text at `url` counts what this check did."""
    text = urllib.request.urlopen(url, timeout=PATIENCE_S).read().decode()

    def value(name, *labels):
        for line in text.splitlines():
            if line.startswith(name + "{") and all(l in line for l in labels):
                return float(line.rsplit(" ", 1)[1])
        fail(f"metrics: no {name} with {labels} in:\n{text}")

    sends = value("rocketwire_sends_total", f'topic="{topic}"', 'result="SEND_OK"')
    if sends != COUNT + 1:  # SendMessage x20, SendBatch x1
        fail(f"metrics: {sends} SEND_OK sends of {topic}, expected {COUNT + 1}")
    acked = value("rocketwire_gateway_settled_total", f'group="{group}_v1"', 'outcome="ack"')
    if acked != COUNT:
        fail(f"metrics: {acked} acks for {group}_v1, expected {COUNT}")
    print(f"gateway_check: /metrics counts {sends:.0f} sends and {acked:.0f} acks", flush=True)


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "--crash":
        crashing_consumer(*sys.argv[2:])
    if len(sys.argv) not in (4, 5):
        fail("usage: gateway_check.py HOST:PORT TOPIC GROUP [METRICS_URL]")
    target, topic, group = sys.argv[1:4]
    with grpc.insecure_channel(target) as channel:
        grpc.channel_ready_future(channel).result(timeout=PATIENCE_S)
        sent = original_api(channel, topic, group)
        sent |= v1_api(channel, topic, group)
        # A new group of the topic: every message sent above.
        killed_mid_stream(channel, target, topic, group, sent)
    if len(sys.argv) == 5:
        scraped(sys.argv[4], topic, group)
    print("gateway_check: OK", flush=True)


if __name__ == "__main__":
    main()
