"""The optimizers of a generated module's training loop (`sgd_step`, `momentum_step`,
`adam_step`), each with the learning rate `derive train` starts from: apart, so the command
line can list them without importing numpy."""

LEARNING_RATES = {"sgd": 0.1, "momentum": 0.01, "adam": 0.01}
