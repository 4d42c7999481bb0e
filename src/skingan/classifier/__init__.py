"""The melanoma classifier: EfficientNet models, training, metrics, synthetic mixing and the study."""
