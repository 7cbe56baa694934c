"""Graph passes: each a small pure function Graph -> Graph. ``pipeline.optimize`` runs them in order."""
