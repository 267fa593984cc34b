"""tinylm: the techniques behind modern LLMs, built small."""
__version__ = "0.1.0"
