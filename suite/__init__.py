"""What the suite's commands share (`suite.runutils`): flags from dataclass configs, one-line errors,
atomic writes, checkpoints."""
