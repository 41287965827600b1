"""Printers of derive's matrix expressions: one class per target (text, numpy, LaTeX) over one
shared notation (`notation`), one method per expression type."""
