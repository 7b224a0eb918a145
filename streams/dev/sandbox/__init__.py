"""A strict local emulator of the Conversions API /events edge, with fault injection.

It answers `POST /{version}/{dataset_id}/events` as Meta's edge does (JSON,
multipart and url-encoded bodies; token in the body, query or `Authorization: Bearer`), with
Meta's success and Graph error shapes and whole-batch rejection, injects faults on demand, and
records every accepted event for inspection under `/_sandbox/`. It is deliberately independent
of streams.domain (stdlib, aiohttp and orjson only), so domain bugs are caught, not mirrored.

Zero configuration: without a datasets file it serves datasets "1000000000000001" and
"1000000000000002", both with the token "sandbox-token", on http://127.0.0.1:8787.

Modules: app (routes), envelope (request parameters), validation (Meta's rules), errors (Graph
errors), faults, receipts, datasets, server (SandboxServer, run_sandbox), cli.
"""
