"""Benchmarks of tip-broker: ratios against baselines measured side by side in one run (`make bench`)."""
