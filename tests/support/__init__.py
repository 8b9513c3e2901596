"""Helpers the tests share: bad exports, a PostgreSQL server of their own, review files, a store
writer run in other processes."""
