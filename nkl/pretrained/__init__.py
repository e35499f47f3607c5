"""Loading pretrained models that several stages share (pyannote pipelines and models)."""
