"""Analysis tools for localization experiments: mask coverage and reference score maps."""
