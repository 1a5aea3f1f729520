"""Persistence: tables, migrations, the database handle and the queries each object needs."""
