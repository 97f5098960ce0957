"""The engine: composes sources, stores and sinks into runs, syncs, backfills and jobs."""
