import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# One thread: these ops are small, and OpenMP threads that spin while the other core is busy
# (a background training run, say) can stall nn.GRU's backward for minutes.
torch.set_num_threads(1)
