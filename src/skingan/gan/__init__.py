"""GANs for synthetic lesion images: networks, losses, DiffAugment, EMA, one training loop, sampling."""
