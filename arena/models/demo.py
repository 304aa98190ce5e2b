"""The offline demo's names, in a module of their own so the command line can show them without importing
the model registry."""

DEMO_MODELS = ("smollm2-greedy", "smollm2-sampled", "smollm2-nf4")
DEMO_JUDGE = "smollm2-135m-q4"
