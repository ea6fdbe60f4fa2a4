"""The documented bounds of every setting (README, "Limits"), in one place.

Each is far beyond any real run and small enough that a typo, or a tampered checkpoint, cannot
ask for terabytes of memory or a run without end: a value outside gets one error naming the
setting before any work starts. No imports, so every layer can read them.
"""

# model
MAX_GATES = 10_000  # random<N>
MAX_LAYERS = 1_000  # blocks<L>, u3cu3_<L>, reupload<L>
# simulate: a batch of 4096 samples at 16 qubits is 4 GiB of state
MAX_QUBITS = 16
# data: 16 features of float64 for 10 M samples is 1.3 GB
MAX_SAMPLES = 10_000_000
# train and compress
MAX_EPOCHS = 100_000
MAX_BATCH = 1 << 20
MAX_SEED = 2**63 - 1
MAX_LR = 1e3
MAX_ITERATIONS = 10_000  # ADMM iterations
MAX_STEPS = 10_000_000  # optimizer steps (and run counters)
# deploy: shots per sample
MAX_SHOTS = 10**8
# compile: each grid point is one transpile per site; beyond these a build takes hours
MAX_ROTATION_STEPS = 256  # 1024 angles per single-angle gate
MAX_U3_STEPS = 8  # 8192 U3 triples
MAX_GENERIC_SAMPLES = 4096
MAX_WORKERS = 256
MAX_DEGREE = 4  # features per term of an encoder's input polynomial (zz_feature_map's products have 2)
