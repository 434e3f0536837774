"""The essay's story: augmentations, pairs and the contrastive head, the image-text model, the smear measures and their figures."""
