"""An example third-party jetplug plugin package."""

from .multiplicity import MultiplicityTagger

__all__ = ["MultiplicityTagger"]
