"""wsol.cams."""
