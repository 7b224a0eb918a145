"""Schema registry adapter: fetch schemas by id over HTTP, compile and cache them, and decode
registry-encoded input messages with the pure decoders of `streams.domain.registry`."""
