"""The style certificate: an embedding independent of the generator, artist centroids and conformal thresholds."""
