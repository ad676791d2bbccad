-- Where a consumer that keeps its place in its own transaction (InboxConsumer, offsets_in_transaction)
-- stands: per partition, the next offset to apply, written in the transaction that applied the records
-- before it. A record below it is a redelivery and is skipped; Kafka's committed offsets follow afterwards.
CREATE TABLE consumer_offsets (
    consumer text NOT NULL,
    topic text NOT NULL,
    partition integer NOT NULL,
    next_offset bigint NOT NULL,
    PRIMARY KEY (consumer, topic, partition)
);
