"""Colorization architectures, one file per family, behind a registry."""

from tinct.models import ddcolor, seed, unet, zhang  # noqa: F401  (registers the architectures)
from tinct.models._registry import create_model, list_models, register_model
from tinct.models.base import ColorizationModel, ModelConfig

__all__ = ["ColorizationModel", "ModelConfig", "create_model", "list_models", "register_model"]
