"""Audio files written by nkl: `nkl resample` and `nkl export`."""
