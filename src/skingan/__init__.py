"""skingan: GAN-based data augmentation for skin-lesion classification on ISIC images."""

__version__ = "0.1.0"
