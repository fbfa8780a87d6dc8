"""The SQLite file: connections, migrations, the store (agents, core memory blocks, recall
messages, archival passages), message records, locks, health and repair.
"""
