"""Reading trial data: files, ADaM record selection, flags, the where language."""
