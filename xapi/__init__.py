"""The ledger's xAPI Learning Record Store, mounted at /xapi/ on `ledger serve`.

Layers: `xapi.http` (the ASGI app: auth, version and consistency headers, dispatch) ->
one module per resource (`statements`, `documents`, `about`) -> `xapi.storage` (tables of
their own beside the event store, on SQLite or PostgreSQL). Validation of statements is
`xapi.validation`, pure functions that name the property at fault."""
