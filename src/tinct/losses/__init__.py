"""Training losses. Each returns a dict: `loss` (the scalar to minimise) plus its parts for logging."""

from tinct.losses.combined import ColorizationLoss, RebalancedCrossEntropy, build_loss, parse_loss_spec

__all__ = ["ColorizationLoss", "RebalancedCrossEntropy", "build_loss", "parse_loss_spec"]
