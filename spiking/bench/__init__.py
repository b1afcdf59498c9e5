"""Side-by-side benchmarks against peers, run in one process on the same inputs."""
