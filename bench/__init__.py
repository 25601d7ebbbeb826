"""`make bench`: the portal's speed measured beside the physical ceiling of the same work, in one run.

Every figure is paired with a ceiling measured in the same run on the same machine and data (a bare DRF
view, the raw SQL, psycopg COPY, the raw XLSX writer), so the verdicts are ratios that hold on a laptop,
in CI and on a large server alike. See `docs/benchmarks.md` and `bench/run.py`."""
