"""The window pipeline: admit -> plan -> deliver -> emit (`core`), its outcome records
(`outcomes`) and what it reports for metrics (`observer`)."""

from streams.domain.admission import InputMessage
from streams.pipeline.core import Pipeline, WindowResult
from streams.pipeline.observer import NullPipelineObserver, PipelineObserver
from streams.pipeline.outcomes import MAX_RECORD_BYTES, OutcomeWriter, RecordSink

__all__ = [
    "MAX_RECORD_BYTES",
    "InputMessage",
    "NullPipelineObserver",
    "OutcomeWriter",
    "Pipeline",
    "PipelineObserver",
    "RecordSink",
    "WindowResult",
]
