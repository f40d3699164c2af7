"""The store layer: schema, writer (init, blocks, finalize), reader, checks, conversion, upgrade.

>>> from voca_data.store import schema
>>> schema.SCHEMA_VERSION
2
"""
