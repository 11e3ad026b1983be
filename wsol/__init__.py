"""wsol: training and evaluation of weakly-supervised object localization."""

__version__ = "0.1.0"
