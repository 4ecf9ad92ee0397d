"""Cutout stores, labelled-folder import, normalisation and augmentations."""
