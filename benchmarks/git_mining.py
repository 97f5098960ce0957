"""Git mining benchmark (see issue #2): written in a later step."""
