"""Model adapters, one package per family.

Each family's ``family.py`` implements :class:`generate.adapter.ModelFamily` and registers it with
:func:`generate.adapter.register_family` when imported, exactly as a third-party family would;
:mod:`generate.adapter` imports the built-ins on first use. The orchestration asks the families
only through that interface and imports no family module itself.
"""
