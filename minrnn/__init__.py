"""Sequence backbones behind one interface: parallel over a sequence, or one step at a time."""
from minrnn.backbone import BACKBONES, Backbone, build_backbone
from minrnn.scan import linear_scan

__all__ = ["BACKBONES", "Backbone", "build_backbone", "linear_scan"]
