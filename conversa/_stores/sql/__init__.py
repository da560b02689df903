"""The SQL stores: one SQLModel schema, migrations, statements, runners, leases."""
