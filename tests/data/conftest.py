import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    # The tensors here are tiny; one thread keeps the run fast and leaves the other core to others.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
