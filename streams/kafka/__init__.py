"""Kafka adapters: the local broker runtime, the faust app and its agents, codecs."""
