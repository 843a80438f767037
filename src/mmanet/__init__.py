"""mmanet: multimodal learning when modalities go missing (MMANet, Wei, Luo & Luo, CVPR 2023)."""

__version__ = "0.1.0"

__all__ = ["__version__"]
