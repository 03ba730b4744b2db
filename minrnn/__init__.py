"""Sequence backbones behind one interface: parallel over a sequence, or one step at a time."""
from minrnn.backbone import BACKBONES, Backbone, build_backbone, mixer_options
from minrnn.initialise import reference_initialise
from minrnn.scan import linear_scan

__all__ = ["BACKBONES", "Backbone", "build_backbone", "linear_scan", "mixer_options", "reference_initialise"]
