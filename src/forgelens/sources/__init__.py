"""Sources: forge APIs and local git, each mapping what it reads to ``forgelens.records``."""
