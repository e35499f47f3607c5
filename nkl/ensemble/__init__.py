"""Late fusion of finished experiments (``nkl ensemble``), aligned by sample id."""
