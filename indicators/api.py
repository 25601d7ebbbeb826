"""Read-only REST endpoints (filled in by the API work of issue 2)."""

routes: list = []
