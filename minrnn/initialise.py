"""The reference initialisation: Decision Transformer's (GPT-2's; CORL's dt.py keeps it) for the model
around the mixers, and each mixer's own after the code it follows (`initialise(n_layers)` on every
mixer class)."""
from torch import nn


def gpt2_initialise_module(module: nn.Module) -> None:
    """Linear and Embedding weights N(0, 0.02), biases 0, LayerNorm weight 1 and bias 0; `module` alone.

    PyTorch's own default for nn.Embedding is N(0, 1): a timestep embedding added to every token would
    dwarf the token embeddings."""
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if getattr(module, "bias", None) is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


def gpt2_initialise(module: nn.Module) -> None:
    """GPT-2's initialisation for `module` and every submodule, in module order."""
    for submodule in module.modules():
        gpt2_initialise_module(submodule)


def reference_initialise(model: nn.Module, n_layers: int) -> None:
    """Every submodule with an `initialise(n_layers)` of its own (the mixers) initialises itself; the rest of
    `model` (embeddings, action head, the blocks' norms and MLPs) as GPT-2, in module order (the order
    in which the weights draw from torch's RNG)."""
    own = set()
    for submodule in model.modules():
        if id(submodule) in own:
            continue
        if submodule is not model and hasattr(submodule, "initialise"):
            submodule.initialise(n_layers)
            own |= {id(inner) for inner in submodule.modules()}
        else:
            gpt2_initialise_module(submodule)
