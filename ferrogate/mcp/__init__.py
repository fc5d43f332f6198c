"""FerroGate as an MCP client: long-lived sessions to the configured MCP servers and their tool catalogue.

Owned by the control process (one session per server per node); workers see the catalogue
and run tools over IPC. Nothing here imports the pipeline.
"""
