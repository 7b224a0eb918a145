"""Kafka adapters: the faust app (`app`), in-order acks (`windows`), the `worker` command,
topic creation (`topics`), replay of failure records (`replay`), metadata backoff."""
