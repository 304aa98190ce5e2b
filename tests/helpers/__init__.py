"""Data generators and process helpers shared by the tests and the speed scripts in benchmarks/.

They live with the tests (which must not import from benchmarks/); a benchmark script puts the tests folder
on sys.path and imports them from here, so a test and the benchmark it stands for build the same data."""
