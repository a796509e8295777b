"""Model file formats: one module per format, each with ``NAME``, ``EXTENSIONS``,
``save(model, path)``, ``load(path)`` and optionally ``detect(path)``; ``saving`` finds them
with ``pkgutil``. Modules whose names start with ``_`` are helpers, not formats."""
