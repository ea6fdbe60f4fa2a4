"""The ``compvqc`` command line: a thin layer over the library."""
