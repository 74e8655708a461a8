"""The benchmarks: one module per `python -m core bench NAME`, each printing its figures and writing JSON.

numpy_training  phases 1-2: accuracy, NumPy vs PyTorch MLP training throughput
models          every model of the ladder: accuracy on each backend, size, latency, time to 99 %
preprocess      the camera pipeline: accuracy on camera-like photos, latency, vs the seed's and references
numbers         whole numbers (2-5 digits) in photos of the evaluation simulator: exact, per digit, time
web             the static page in Chromium: bundle size, first prediction, per-frame latency
dashboard       the dashboard in Chromium: camera fps, live-training overhead, page open times
speedrun        the `fast` CNN preset: training seconds to 99.0 % and 99.5 %, beside the default preset

`make bench` runs them all (core.cli.BENCHMARKS). Every result records the machine it ran on
(core.runtime.machine_info: the CPU's model and the instruction sets that change the numbers).
"""
