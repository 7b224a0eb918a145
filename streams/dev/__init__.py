"""Development tools, never imported by the runtime: the local Kafka broker (`broker`), the
Graph API sandbox (`sandbox`), the demo stream (`demo`) and `capi-streams run` (`local_run`)."""
