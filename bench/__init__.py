"""The benchmark of issue 7: generated fills served by a fast fake trading service to the real ``report``.

Run it with ``.venv/bin/python -m bench.run`` (``--quick`` for small sizes, ``--write`` to update
``docs/benchmarks.md``).
"""
