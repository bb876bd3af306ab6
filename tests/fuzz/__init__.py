"""Coverage-guided fuzz targets (atheris on libFuzzer): ``python -m tests.fuzz.ingest``."""
