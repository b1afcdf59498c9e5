"""Readers of event-camera files, one module per format; ``detect.read`` picks the format from the header."""
