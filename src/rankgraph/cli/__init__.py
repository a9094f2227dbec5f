"""The `rankgraph` command line: one command per stage of the flow."""
