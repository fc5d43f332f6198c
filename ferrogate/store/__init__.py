"""The node's embedded store: one SQLite database in WAL mode, written by the control process.

Workers never open it. The supervisor reads it once, at a cold start, to put the spent
budgets back into the counter table before any worker serves.
"""
