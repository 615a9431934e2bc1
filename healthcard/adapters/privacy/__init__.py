"""Privacy by default: per-person keys, crypto-shredding, masking of personal data."""
