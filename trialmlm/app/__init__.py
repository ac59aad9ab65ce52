"""The application: the command line, analysis configuration and the report."""
