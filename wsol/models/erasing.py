"""ACoL's erasing: zero the feature positions where an attention map reaches a threshold."""

from __future__ import annotations

from torch import Tensor


def erase_above_threshold(features: Tensor, attention: Tensor, threshold: float) -> Tensor:
    """Zero, on every channel, the positions where ``attention >= threshold``.

    The mask carries no gradient (it is built from the detached attention); gradients reach
    ``features`` at the positions that were kept and are zero at the erased ones. NaN attention
    never reaches a threshold, so it erases nothing.

    Args:
        features: [B, C, h, w] features (gradient-carrying).
        attention: [B, h, w] attention, normally in [0, 1].
        threshold: erase where attention >= threshold (a threshold above 1 erases nothing).

    Returns:
        [B, C, h, w] features with the erased positions set to 0.

    Raises:
        ValueError: if the attention's shape is not [B, h, w] of the features.
    """
    if features.dim() != 4 or attention.shape != (features.shape[0], *features.shape[2:]):
        raise ValueError(
            f"attention must be [B, h, w] = {[features.shape[0], *features.shape[2:]]} for "
            f"features {list(features.shape)}, got {list(attention.shape)}"
        )
    erase = (attention.detach() >= threshold).unsqueeze(1)
    return features.masked_fill(erase, 0.0)
