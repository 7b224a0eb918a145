"""How every Kafka client of capi-streams connects (below the Kafka adapters, so the worker,
`replay`, `import` and the dev tools share it): `clients.py` turns the `[kafka]` security keys
into client arguments, `oauth.py` is the built-in OIDC client-credentials token provider,
`preflight.py` checks the connection at start-up with errors that name the key to fix."""
