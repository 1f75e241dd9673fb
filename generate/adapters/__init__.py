"""Model adapters, one package per family.

Each family registers itself with :func:`generate.adapter.register_adapter` when imported, exactly as
a third-party adapter would; :mod:`generate.adapter` imports the built-ins on first use.
"""
