"""capi-streams: Kafka to Meta's Conversions API. Importing the package starts nothing."""

__version__ = "0.1.0"
