"""Suite-wide settings."""

import torch

# The tests train tiny models: one intra-op thread is as fast, and it keeps the suite from stalling when
# another process holds the other core of a 2-core machine (oversubscribed threads slow it down tenfold).
torch.set_num_threads(1)
