"""The `mllmcl` command line: it runs the flows and reads the registry."""
